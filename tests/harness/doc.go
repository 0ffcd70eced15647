// Package harness runs the local distribution (`go run ./distribution`) as a real
// process and drives Debian's Chromium against it with chromedp, for the end-to-end
// tests under tests/ (playback, rotation drill).
//
// Stable surface (other test packages depend on it):
//
//	func Main(m *testing.M) int                    // in TestMain: os.Exit(harness.Main(m)); removes the built binary
//	func Start(t, Options) *Distribution           // build once, start, wait until ready; stopped at test end
//	func (*Distribution) Stop(t)                   // stop early (to restart on the same StateDir)
//	func (*Distribution) Get(t, path, cookies...)  // a plain HTTP request, for status checks outside the browser
//	func NewBrowser(t) *Browser                    // one headless Chromium, fresh profile
//	func (*Browser) NewPage(t, d) *Page            // a tab with network capture on the distribution
//	func (*Browser) NewPageWith(t, d, PageOptions) *Page // the same, refusing cookies by name and/or downloading into a folder
//	func NewCookielessBrowser(t) *Browser          // Chromium with "Block all cookies" in its profile
//	func (*Page) RefusedCookies / Downloads / WaitDownload / GrantPermissions
//	func (*Page) Login / Logout / Access / Fetch                 // the page's own flows, as a viewer
//	func (*Page) Play / StartPlay / StartPlayLoop / StartPlayWithHeldCookies / WaitPlaying
//	func (*Page) Requests / MediaRequests / ResetRequests       // every request: URL, status, cookie names sent, Sent (headers reported)
//	func (*Page) Cookies / CookieHeader / SetCookie / Screenshot / State / Message
//	func Eval[T](p, js) T                                       // anything else in the page
//
// A rotation drill: d := Start(t, Options{StateDir: dir}); p := NewBrowser(t).NewPage(t, d);
// p.Login(DemoEmail, DemoPassword); p.StartPlayLoop(GrantedCourse, "ts"); change the keys in
// dir; then watch p.MediaRequests(GrantedCourse) (Status, CookieNames) and p.Requests() for
// the access refreshes (run Start with Args -cookie-ttl 1m -cookie-bucket 1s to refresh
// every few seconds). The demo media is 8 s long; the loop re-fetches it every pass.
//
// Chromium runs headless with --no-sandbox, --disable-gpu, --disable-quic and
// the background-networking flags (see NewBrowser): the test machines have no
// network but loopback. Run
// browser tests serially: the machines have two cores.
package harness
