/*
 * bcryptprimitives.dll for Wine 8.0, which has none: Go 1.24 and later get
 * their random bytes from its ProcessPrng at start-up, and a Go program
 * without it dies with "fatal error: bcryptprimitives.dll not found".
 * This DLL exports ProcessPrng and forwards to advapi32's SystemFunction036
 * (RtlGenRandom), Wine's own CSPRNG. It is for the Windows test lane only:
 * scripts/wine/setup.sh puts it in a private Wine prefix, where every Go
 * program loads it; keyrelay never ships it (Windows has its own).
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buf, ULONG len);

BOOL WINAPI DllMain(HINSTANCE dll, DWORD reason, LPVOID reserved) { return TRUE; }

/* ProcessPrng fills data with len random bytes; it always succeeds on
 * Windows, so a failure here is reported as FALSE and Go's runtime aborts. */
BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
	while (len > 0) {
		ULONG n = len > 0x40000000 ? 0x40000000 : (ULONG)len;
		if (!SystemFunction036(data, n))
			return FALSE;
		data += n;
		len -= n;
	}
	return TRUE;
}
