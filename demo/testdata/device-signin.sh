#!/bin/sh
# What a person does in a browser at the built-in authorization server's
# device page, done with curl: open the page, enter the code, sign in,
# allow. The demo's terminal test runs it in a second tmux pane.
#
#   sh device-signin.sh URL CODE [USER]
#
# URL is the device page (http://127.0.0.1:PORT/device) and CODE the code
# the demo shows. The password is asked for, without echo. It, the cookies
# and the CSRF tokens reach curl on its stdin (-K -: a curl config made by
# printf, a shell builtin), never in an argument list that other local
# users could read.
set -eu
url=$1 code=$2 user=${3:-demo}
base=${url%/device}

printf 'password for %s: ' "$user"
trap 'stty echo 2>/dev/null' EXIT
stty -echo
IFS= read -r pw
stty echo
echo

# fetch PATH [COOKIE [FORM [PASSWORD]]]: the response, headers and body,
# CRs removed. FORM's values are the server's own (URL-safe) and the code;
# the password is URL-encoded by curl (it must hold no " or \).
fetch() {
	{
		printf 'url = "%s%s"\nsilent\nshow-error\ninclude\n' "$base" "$1"
		if [ -n "${2:-}" ]; then printf 'header = "Cookie: %s"\n' "$2"; fi
		if [ -n "${3:-}" ]; then printf 'data = "%s"\n' "$3"; fi
		if [ -n "${4:-}" ]; then printf 'data-urlencode = "password=%s"\n' "$4"; fi
	} | curl -K - | tr -d '\r'
}
# header NAME: the value of a response header read from stdin.
header() { sed -n "s/^$1: //p" | head -n 1; }
# cookie NAME-PREFIX: the first Set-Cookie pair whose name starts so.
cookie() { sed -n "s/^Set-Cookie: \($1[^=]*=[^;]*\);.*/\1/p" | grep -v '=$' | head -n 1; }
# hidden NAME: a hidden form field's value.
hidden() { sed -n "s/.*name=\"$1\" value=\"\([^\"]*\)\".*/\1/p" | head -n 1; }
fail() { echo "device sign-in: $*" >&2; exit 1; }

echo "1. the device page"
r=$(fetch /device)
ck=$(printf '%s\n' "$r" | cookie keyrelay_device)
csrf=$(printf '%s\n' "$r" | hidden csrf_token)
[ -n "$ck" ] && [ -n "$csrf" ] || fail "no form on the device page"

echo "2. the code"
r=$(fetch /device "$ck" "csrf_token=$csrf&user_code=$code")
loc=$(printf '%s\n' "$r" | header Location)
ck=$(printf '%s\n' "$r" | cookie keyrelay_authz_)
case $loc in */login\?request_id=*) ;; *) fail "the code was refused (sent to: $loc)" ;; esac
id=${loc#*request_id=}

echo "3. the sign-in form, as $user"
r=$(fetch "/login?request_id=$id" "$ck")
csrf=$(printf '%s\n' "$r" | hidden csrf_token)
r=$(fetch /login "$ck" "request_id=$id&csrf_token=$csrf&username=$user" "$pw")
loc=$(printf '%s\n' "$r" | header Location)
case $loc in */consent\?request_id=*) ;; *) fail "the sign-in was refused (sent to: $loc)" ;; esac

echo "4. the consent page: allow"
r=$(fetch "/consent?request_id=$id" "$ck")
csrf=$(printf '%s\n' "$r" | hidden csrf_token)
r=$(fetch /consent "$ck" "request_id=$id&csrf_token=$csrf&action=allow")
loc=$(printf '%s\n' "$r" | header Location)
case $loc in *status=approved) echo "device sign-in: approved" ;; *) fail "not approved (sent to: $loc)" ;; esac
