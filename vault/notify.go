package vault

import "context"

type (
	lockWaitKey struct{}
	noticeKey   struct{}
)

// WithLockWait returns ctx carrying wait. A vault operation under the
// returned context that finds the vault's lock held by another process
// (another relay signing in or refreshing) calls wait before it waits for
// the lock, and the stop it returns once it has the lock or gave up. An
// operation that gets the lock at once calls neither: a slow read for
// another reason (a slow keychain) is not a wait for the lock.
func WithLockWait(ctx context.Context, wait func() (stop func())) context.Context {
	return context.WithValue(ctx, lockWaitKey{}, wait)
}

// waiting calls ctx's lock-wait callback, if any, and returns its stop.
func waiting(ctx context.Context) (stop func()) {
	if w, _ := ctx.Value(lockWaitKey{}).(func() func()); w != nil {
		if stop := w(); stop != nil {
			return stop
		}
	}
	return func() {}
}

// WithNotice returns ctx carrying say, which receives the one-line
// messages for the person that vault operations under the returned
// context have (a new key file was created), without a prefix. Without
// it, they go to Options.Logger as warnings. A message never holds a
// secret.
func WithNotice(ctx context.Context, say func(msg string)) context.Context {
	return context.WithValue(ctx, noticeKey{}, say)
}

// notify passes msg to ctx's notice callback, else to the logger.
func (v *Vault) notify(ctx context.Context, msg string) {
	if say, _ := ctx.Value(noticeKey{}).(func(string)); say != nil {
		say(msg)
		return
	}
	v.log.Warn("vault: " + msg)
}
