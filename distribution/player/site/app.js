// cfgate player page: log in, list the viewer's courses, get the course's CloudFront
// cookies from POST /api/courses/{id}/access and play its HLS through the distribution.
// Under the player: the course's materials (GET …/files; a download asks POST
// …/files/{name}/link) and "Play on another device" (POST …/playback, a URL that needs
// no cookies). A browser that refuses the course cookies plays from that URL instead,
// and a page opened as /#play=<URL> plays it without signing in.
// No framework, no build step; hls.js is served by the distribution as /vendor/hls.min.js.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const params = new URLSearchParams(location.search);

  // Refresh the course cookies this long before they expire (the API rounds expiry up
  // to a bucket, so cookies live at least Lifetime; refreshing a minute early is ample).
  const REFRESH_MARGIN_MS = 60 * 1000;
  const MIN_REFRESH_MS = 5 * 1000;

  const state = {
    email: "",
    courses: [],
    course: "",
    format: params.get("format") === "fmp4" ? "fmp4" : "ts",
    hls: null,
    refreshTimer: 0,
    lastAccess: null, // {course, status, expires} of the last access call, for people and tests
    recoveries: 0, // playback resumed with fresh cookies after a 403 (all playbacks of this page)
    // How the current playback is authorized: "cookies" (the course cookies), "url"
    // (the browser refused them: the cookie-less playback URL) or "link" (the page was
    // opened with #play=<URL>, no session). The URLs themselves are never kept here.
    mode: "",
    fallbacks: 0, // playbacks switched to the cookie-less URL (all playbacks of this page)
  };

  function setState(name) {
    document.body.dataset.state = name;
  }

  function say(text, isError) {
    const m = $("message");
    m.textContent = text || "";
    m.className = isError ? "error" : "";
  }

  function show(section) {
    for (const id of ["login", "library", "player"]) {
      $(id).hidden = !section.includes(id);
    }
    $("account").hidden = section.includes("login");
  }

  // api calls the login API on this distribution. Credentials are included so a
  // player page served from another origin (PLAYER_ORIGINS) still sends the session.
  async function api(method, path, body) {
    const init = { method, credentials: "include", headers: {} };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let resp;
    try {
      resp = await fetch(path, init);
    } catch (e) {
      return { status: 0, data: null };
    }
    let data = null;
    if (resp.status !== 204) {
      try {
        data = await resp.json();
      } catch (e) {
        data = null;
      }
    }
    return { status: resp.status, data };
  }

  function explain(status, what) {
    switch (status) {
      case 0:
        return "Network error: the distribution could not be reached. Check your connection and try again.";
      case 401:
        return "Your session has ended. Please log in again.";
      case 403:
        return `You don't have access to ${what}.`;
      case 404:
        return `${what} does not exist.`;
      case 429:
        return "Too many attempts. Please wait a few minutes and try again.";
      default:
        return `Something went wrong (${status}). Please try again.`;
    }
  }

  // cookiesRefused explains a login that succeeded while the browser kept no
  // cookie, and what the viewer (or the operator) can do.
  function cookiesRefused() {
    if (location.protocol === "http:") {
      return "Your password was right, but this browser did not keep the sign-in cookie: it " +
        "blocks cookies for this site, or it refuses Secure cookies on a plain http:// page " +
        "(Safari and other WebKit browsers do). Allow cookies for this site, or open this page " +
        "over https://. Running the local distribution? Start it with -insecure-cookies to try " +
        "it over http://.";
    }
    return "Your password was right, but this browser did not keep the sign-in cookie. " +
      "Allow cookies for this site (or turn off blocking of third-party cookies if this " +
      "player is embedded in another site) and log in again.";
  }

  function showLogin(message, isError) {
    stopPlayback();
    state.email = "";
    state.courses = [];
    setState("login");
    show(["login"]);
    say(message || "", isError);
  }

  function showLibrary(data) {
    state.email = data.email;
    state.courses = data.courses || [];
    $("who").textContent = data.email;
    const list = $("courses");
    list.replaceChildren();
    for (const c of state.courses) {
      const li = document.createElement("li");
      const title = document.createElement("span");
      title.textContent = c.title || c.id;
      const btn = document.createElement("button");
      btn.type = "button";
      btn.id = "play-" + c.id;
      btn.textContent = "Play";
      btn.addEventListener("click", () => play(c.id, $("format").value));
      li.append(title, btn);
      list.append(li);
    }
    if (state.courses.length === 0) {
      const li = document.createElement("li");
      li.textContent = "No courses yet.";
      list.append(li);
    }
    setState("library");
    show(["library", state.course ? "player" : ""]);
  }

  function parseExpires(v) {
    if (typeof v === "number") {
      return new Date(v < 1e12 ? v * 1000 : v);
    }
    const d = new Date(v);
    return isNaN(d.getTime()) ? null : d;
  }

  // access asks the API for the course's CloudFront cookies and schedules the next
  // refresh before they expire. It returns the HTTP status (0 for a network error).
  async function access(course) {
    const r = await api("POST", `/api/courses/${encodeURIComponent(course)}/access`);
    const expires = r.status === 200 && r.data ? parseExpires(r.data.expires) : null;
    state.lastAccess = { course, status: r.status, expires: expires ? expires.toISOString() : null };
    clearTimeout(state.refreshTimer);
    if (r.status === 200 && expires) {
      const wait = Math.max(MIN_REFRESH_MS, expires.getTime() - Date.now() - REFRESH_MARGIN_MS);
      state.refreshTimer = setTimeout(() => refresh(course), wait);
    }
    return r.status;
  }

  async function refresh(course) {
    if (state.course !== course || state.mode !== "cookies") {
      return;
    }
    const status = await access(course);
    if (state.mode !== "cookies") {
      // The page switched to the cookie-less URL meanwhile: no more refreshes.
      clearTimeout(state.refreshTimer);
      state.refreshTimer = 0;
      return;
    }
    if (status === 0) {
      // Transient: try again soon; the current cookies are still valid for a while.
      state.refreshTimer = setTimeout(() => refresh(course), MIN_REFRESH_MS);
      return;
    }
    if (status !== 200) {
      failPlayback(status, course);
    }
  }

  // detachMedia stops hls.js and empties the video element, keeping the rest of
  // the player (title, materials, panel) as it is.
  function detachMedia() {
    if (state.hls) {
      state.hls.destroy();
      state.hls = null;
    }
    const v = $("video");
    v.pause();
    v.removeAttribute("src");
    v.load();
  }

  function stopPlayback() {
    clearTimeout(state.refreshTimer);
    state.refreshTimer = 0;
    detachMedia();
    state.course = "";
    state.mode = "";
    $("player").hidden = true;
    note("");
    hideDevice();
    $("player-actions").hidden = true;
    $("materials").hidden = true;
    $("files").replaceChildren();
    filesSay("");
  }

  function failPlayback(status, course) {
    const mode = state.mode;
    stopPlayback();
    if (mode === "link") {
      // Opened with #play=<URL> and no session: the URL was refused or could not play.
      setState("error");
      show(["login"]);
      say(status === 0 ?
        explain(0) :
        "This playback link has expired or is not valid. Ask for a new one, or log in.", true);
      return;
    }
    if (status === 401) {
      showLogin(explain(401), true);
      return;
    }
    setState("error");
    say(explain(status, `the course "${course}"`), true);
  }

  // note shows a quiet line under the video (how this playback is authorized).
  function note(text) {
    $("player-note").textContent = text || "";
    $("player-note").hidden = !text;
  }

  // httpURL returns u as a URL object if it is an absolute http(s) URL, else null:
  // nothing else is ever handed to hls.js or a download link.
  function httpURL(u) {
    if (typeof u !== "string") return null;
    try {
      const url = new URL(u);
      return url.protocol === "https:" || url.protocol === "http:" ? url : null;
    } catch (e) {
      return null;
    }
  }

  function formatTime(d) {
    return d.toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
  }

  // engine picks hls.js where Media Source Extensions exist (every desktop browser,
  // Chromium included) and the browser's own HLS otherwise (iOS Safari); ?engine=
  // native|hlsjs overrides it.
  function engine(video) {
    const forced = params.get("engine");
    const native = video.canPlayType("application/vnd.apple.mpegurl") !== "";
    const hlsjs = typeof Hls !== "undefined" && Hls.isSupported();
    if (forced === "native" && native) return "native";
    if (forced === "hlsjs" && hlsjs) return "hlsjs";
    if (hlsjs) return "hlsjs";
    if (native) return "native";
    return "";
  }

  // playbackURL asks POST /api/courses/{id}/playback for the course's cookie-less
  // playback URL, for the format's master playlist (or, if the course has no such
  // playlist, its default one). It returns {status, url, expires}; url is set only
  // for a 200 with an http(s) URL.
  async function playbackURL(course, format) {
    const path = `/api/courses/${encodeURIComponent(course)}/playback`;
    let r = await api("POST", path, { playlist: `${format}/master.m3u8` });
    if (r.status === 400 || r.status === 404) {
      r = await api("POST", path); // the course's default playlist
    }
    if (r.status !== 200) {
      return { status: r.status, url: "", expires: null };
    }
    const url = r.data && httpURL(r.data.url);
    if (!url) {
      return { status: 502, url: "", expires: null };
    }
    return { status: 200, url: url.href, expires: parseExpires(r.data.expires) };
  }

  // play gets the course's cookies (POST …/access) and plays it. Options:
  // {access: false} plays with the cookies the browser already holds (cookies
  // issued by another service for this distribution); {loop: true} plays in a
  // loop with a short buffer, so segments keep being fetched (demos, drills).
  async function play(course, format, opts) {
    format = format === "fmp4" ? "fmp4" : "ts";
    opts = opts || {};
    const useAccess = opts.access !== false;
    const loop = opts.loop === true || params.get("loop") === "1";
    stopPlayback();
    say("");
    setState("starting");
    if (useAccess) {
      const status = await access(course);
      if (status !== 200) {
        failPlayback(status, course);
        return;
      }
    }
    state.course = course;
    state.format = format;
    state.mode = "cookies";
    const c = state.courses.find((x) => x.id === course);
    $("now-playing").textContent = (c && c.title) || course;
    $("player").hidden = false;
    if (useAccess) {
      // Both need the session, which cookies signed elsewhere do not come with.
      $("player-actions").hidden = false;
      loadFiles(course);
    }
    const src = `/courses/${encodeURIComponent(course)}/${format}/master.m3u8`;
    startMedia(course, src, { useAccess, loop });
  }

  // startMedia plays src in the video element (replacing what played before) as
  // the current state.mode says, and handles what is refused on the way.
  function startMedia(course, src, o) {
    const video = $("video");
    const format = state.format;
    detachMedia();
    const which = engine(video);
    $("player-info").textContent = `${format === "ts" ? "MPEG-TS" : "fMP4"} · ${which === "native" ? "native HLS" : "hls.js"}`;
    video.muted = true;
    video.loop = !!o.loop;
    if (which === "hlsjs") {
      const hls = new Hls({
        // Looping keeps little buffered, so every pass fetches its segments again.
        ...(o.loop ? { maxBufferLength: 4, maxMaxBufferLength: 4, backBufferLength: 0 } : {}),
        ...(o.startAt ? { startPosition: o.startAt } : {}),
        xhrSetup: (xhr) => {
          xhr.withCredentials = state.mode === "cookies";
        },
        fetchSetup: (context, init) => {
          init.credentials = state.mode === "cookies" ? "include" : "omit";
          return new Request(context.url, init);
        },
      });
      if (state.mode === "cookies") {
        cookieErrors(hls, course, o);
      } else {
        urlErrors(hls, course, o);
      }
      state.hls = hls;
      hls.loadSource(src);
      hls.attachMedia(video);
    } else if (which === "native") {
      video.src = src;
    } else {
      setState("error");
      say("This browser cannot play HLS.", true);
      return;
    }
    setState("playing");
    video.play().catch(() => {
      // Autoplay can be refused; the controls let the viewer start it.
    });
  }

  // cookieErrors handles what is refused while the course cookies authorize playback.
  function cookieErrors(hls, course, o) {
    // loaded: a playlist or segment has loaded in this playback, so the browser does
    // send the course cookies.
    let loaded = false;
    const seen = () => {
      loaded = true;
    };
    hls.on(Hls.Events.MANIFEST_LOADED, seen);
    hls.on(Hls.Events.LEVEL_LOADED, seen);
    // A 403 on a playlist or segment means the course cookies no longer work (they
    // expired while a laptop slept, or were signed with a key that is no longer
    // trusted): the page gets fresh ones once, at the first 403 rather than when
    // hls.js gives up (its own retries take about 30 s), and hls.js's next attempt
    // carries them. If media is still refused with the fresh cookies, playback fails
    // rather than calling /access in a loop. A segment requested after the fresh
    // cookies arrived and loaded proves they work and ends that episode, so a later
    // 403 in the same playback (another expiry, a key rotation) gets its own retry.
    let retried = false;
    let freshAt = 0; // performance.now() when the fresh cookies arrived; 0 = none
    let halted = false; // a fatal error stopped hls.js's loading
    // sentBefore tells whether a load started before the fresh cookies arrived
    // (hls.js times its loads with performance.now()): such a load used the old
    // cookies and proves nothing about the new ones, either way.
    const sentBefore = (stats) => !!(stats && stats.loading && stats.loading.start < freshAt);
    const resume = () => {
      halted = false;
      hls.startLoad();
    };
    hls.on(Hls.Events.FRAG_LOADED, (_event, data) => {
      loaded = true;
      if (retried && freshAt && !sentBefore(data.frag && data.frag.stats)) {
        retried = false;
        freshAt = 0;
      }
    });
    hls.on(Hls.Events.ERROR, async (_event, data) => {
      if (data.fatal) {
        halted = true;
      }
      const code = data.response && data.response.code;
      // The browser refused the course cookies: the course's first playlist is
      // refused (403: sent without them) or unreadable (0: a cross-site page whose
      // request the error answer does not allow) right after /access answered 200.
      // Cookies that did arrive make that request succeed, so this is no expiry.
      if (o.useAccess && !loaded && data.fatal && data.details === Hls.ErrorDetails.MANIFEST_LOAD_ERROR &&
          (code === 403 || !code)) {
        fallBack(hls, course, o);
        return;
      }
      if (code === 403 && o.useAccess) {
        if (!retried) {
          retried = true;
          freshAt = 0;
          const s = await access(course);
          if (state.hls !== hls) {
            return; // this playback has been stopped meanwhile
          }
          if (s !== 200) {
            failPlayback(s, course);
            return;
          }
          freshAt = performance.now();
          state.recoveries++;
          if (halted) {
            resume();
          }
          return;
        }
        if (!data.fatal || !freshAt) {
          return; // hls.js tries again, or the refresh under way resumes loading
        }
        if (sentBefore((data.frag && data.frag.stats) || data.stats)) {
          resume(); // refused with the old cookies: load again with the new ones
          return;
        }
        // Refused with the fresh cookies too: fail below.
      }
      if (!data.fatal) {
        return;
      }
      if (data.type === Hls.ErrorTypes.MEDIA_ERROR) {
        hls.recoverMediaError();
        return;
      }
      failPlayback(code === 403 ? 403 : code ? code : 0, course);
    });
  }

  // fallBack plays the course from its cookie-less playback URL, for a browser that
  // refuses the course cookies (blocked cookies, a player embedded in another site).
  async function fallBack(hls, course, o) {
    clearTimeout(state.refreshTimer); // the cookies are of no use to this browser
    state.refreshTimer = 0;
    const p = await playbackURL(course, state.format);
    if (state.hls !== hls || state.course !== course) {
      return; // stopped or replaced meanwhile
    }
    if (p.status !== 200) {
      failPlayback(p.status, course);
      return;
    }
    state.mode = "url";
    state.fallbacks++;
    note("This browser did not accept the course's cookies, so the video plays from a signed link instead.");
    startMedia(course, p.url, { loop: o.loop });
  }

  // urlErrors handles what is refused while the URL itself authorizes playback
  // ("url" and "link"): a 403 means the URL expired. A "url" playback (a session is
  // there) gets a fresh URL once and goes on where it was; a "link" one fails.
  function urlErrors(hls, course, o) {
    let loaded = false;
    hls.on(Hls.Events.FRAG_LOADED, () => {
      loaded = true;
    });
    hls.on(Hls.Events.ERROR, async (_event, data) => {
      if (!data.fatal) {
        return;
      }
      if (data.type === Hls.ErrorTypes.MEDIA_ERROR) {
        hls.recoverMediaError();
        return;
      }
      const code = data.response && data.response.code;
      if (code === 403 && state.mode === "url" && loaded && !o.renewed) {
        const at = $("video").currentTime;
        const p = await playbackURL(course, state.format);
        if (state.hls !== hls) {
          return;
        }
        if (p.status !== 200) {
          failPlayback(p.status, course);
          return;
        }
        startMedia(course, p.url, { loop: o.loop, startAt: at, renewed: true });
        return;
      }
      failPlayback(code === 403 ? 403 : code ? code : 0, course);
    });
  }

  // linkFromFragment reads a playback URL from the page's #play=<URL> (percent-
  // encoded) and removes it from the address bar and the history entry. Only this
  // distribution's own /api/play/ playlists are accepted. It returns null without
  // #play=, {error} for a URL it does not accept, else {url, course, expires}.
  function linkFromFragment() {
    if (!location.hash.startsWith("#play=")) {
      return null;
    }
    const raw = location.hash.slice("#play=".length);
    history.replaceState(null, "", location.pathname + location.search);
    let u = null;
    try {
      u = httpURL(new URL(decodeURIComponent(raw), location.href).href);
    } catch (e) {
      u = null;
    }
    const m = u && u.origin === location.origin && /^\/api\/play\/([a-z0-9][a-z0-9-]{0,62})\/[^?#]+\.m3u8$/.exec(u.pathname);
    if (!m) {
      return { error: true };
    }
    return { url: u.href, course: m[1], expires: linkExpiry(u) };
  }

  // linkExpiry reads the end of a signed URL's validity from its policy (custom) or
  // Expires (canned); null when it cannot tell.
  function linkExpiry(u) {
    try {
      const policy = u.searchParams.get("Policy");
      if (policy) {
        const json = atob(policy.replace(/-/g, "+").replace(/_/g, "=").replace(/~/g, "/"));
        const t = JSON.parse(json).Statement[0].Condition.DateLessThan["AWS:EpochTime"];
        return typeof t === "number" ? new Date(t * 1000) : null;
      }
      const e = Number(u.searchParams.get("Expires"));
      return e > 0 ? new Date(e * 1000) : null;
    } catch (e) {
      return null;
    }
  }

  // playLink plays a URL from #play= without a session: the URL carries the
  // authorization, nothing is asked of the API.
  function playLink(link) {
    stopPlayback();
    if (link.error) {
      setState("error");
      show(["login"]);
      say("This playback link is not valid here. Ask for a new one, or log in.", true);
      return;
    }
    say("");
    setState("starting");
    show(["player"]);
    $("account").hidden = true;
    state.course = link.course;
    state.format = /\/fmp4\//.test(link.url) ? "fmp4" : "ts";
    state.mode = "link";
    $("now-playing").textContent = link.course;
    note("Playing from a shared link, without signing in" +
      (link.expires ? `; it works until ${formatTime(link.expires)}.` : "."));
    startMedia(link.course, link.url, {});
  }

  // Play on another device: the course's cookie-less URL, shown only on request.
  async function toggleDevice() {
    if (!$("device-panel").hidden) {
      hideDevice();
      return;
    }
    const course = state.course;
    $("device").disabled = true;
    const p = await playbackURL(course, state.format);
    $("device").disabled = false;
    if (state.course !== course) {
      return;
    }
    if (p.status === 401) {
      showLogin(explain(401), true);
      return;
    }
    $("device-panel").hidden = false;
    $("device").setAttribute("aria-expanded", "true");
    $("device").textContent = "Hide the URL";
    if (p.status !== 200) {
      $("device-error").textContent = p.status === 403 ?
        "You no longer have access to this course." :
        `No link for another device: ${explain(p.status, "this course")}`;
      $("device-error").hidden = false;
      return;
    }
    $("device-error").hidden = true;
    $("device-url").value = p.url;
    $("device-expires").textContent = p.expires ? `Works until ${formatTime(p.expires)}.` : "";
    $("device-page-link").href = location.origin + location.pathname + "#play=" + encodeURIComponent(p.url);
    $("device-copy").textContent = "Copy";
    $("device-url").focus();
    $("device-url").select();
  }

  function hideDevice() {
    $("device-panel").hidden = true;
    $("device").setAttribute("aria-expanded", "false");
    $("device").textContent = "Play on another device";
    $("device-url").value = "";
    $("device-page-link").href = "#";
    $("device-expires").textContent = "";
    $("device-error").hidden = true;
  }

  async function copyDevice() {
    const input = $("device-url");
    input.focus();
    input.select();
    let ok = false;
    try {
      await navigator.clipboard.writeText(input.value);
      ok = true;
    } catch (e) {
      try {
        ok = document.execCommand("copy");
      } catch (e2) {
        ok = false;
      }
    }
    $("device-copy").textContent = ok ? "Copied" : "Press Ctrl+C to copy";
  }

  // Course materials, listed under the player.
  function filesSay(text, isError) {
    const m = $("files-message");
    m.textContent = text || "";
    m.className = isError ? "error" : "quiet";
    m.hidden = !text;
  }

  function humanSize(n) {
    if (typeof n !== "number" || !(n >= 0)) return "";
    if (n < 1024) return `${n} bytes`;
    const units = ["KB", "MB", "GB", "TB"];
    let v = n / 1024;
    let i = 0;
    while (v >= 1024 && i < units.length - 1) {
      v /= 1024;
      i++;
    }
    return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
  }

  const KINDS = {
    "application/pdf": "PDF",
    "application/epub+zip": "EPUB",
    "application/zip": "ZIP",
    "audio/mpeg": "MP3",
    "audio/mp4": "M4A",
    "video/mp4": "MP4",
    "text/plain": "Text",
    "text/csv": "CSV",
    "image/png": "PNG",
    "image/jpeg": "JPEG",
  };

  function kind(type) {
    if (typeof type !== "string" || type === "") return "";
    return KINDS[type.split(";")[0].trim().toLowerCase()] || type;
  }

  async function loadFiles(course) {
    const r = await api("GET", `/api/courses/${encodeURIComponent(course)}/files`);
    if (state.course !== course) {
      return;
    }
    const list = $("files");
    list.replaceChildren();
    if (r.status === 401) {
      showLogin(explain(401), true);
      return;
    }
    if (r.status === 404) {
      return; // no materials for this course
    }
    if (r.status !== 200 || !r.data || !Array.isArray(r.data.files)) {
      $("materials").hidden = false;
      filesSay(r.status === 403 ? "You don't have access to this course's materials." :
        r.status === 0 ? "The course's materials could not be loaded: the distribution could not be reached." :
          `The course's materials could not be loaded (${r.status || "bad answer"}). Reload the page to try again.`, true);
      return;
    }
    for (const f of r.data.files) {
      if (!f || typeof f.name !== "string" || f.name === "") continue;
      const li = document.createElement("li");
      const text = document.createElement("div");
      const title = document.createElement("span");
      title.className = "file-title";
      title.textContent = f.title || f.name;
      const meta = document.createElement("span");
      meta.className = "file-meta";
      meta.textContent = [f.title ? f.name : "", kind(f.type), humanSize(f.size)].filter(Boolean).join(" · ");
      text.append(title, meta);
      const btn = document.createElement("button");
      btn.type = "button";
      btn.id = "download-" + f.name;
      btn.textContent = "Download";
      btn.setAttribute("aria-label", `Download ${f.name}`);
      btn.addEventListener("click", () => download(course, f.name, btn));
      li.append(text, btn);
      list.append(li);
    }
    // No materials: nothing is shown.
    $("materials").hidden = list.children.length === 0;
  }

  // download asks for a short-lived link to the file and starts the download from
  // it. The object is served as an attachment, so the page stays where it is.
  async function download(course, name, btn) {
    filesSay("");
    btn.disabled = true;
    btn.textContent = "Preparing…";
    const r = await api("POST", `/api/courses/${encodeURIComponent(course)}/files/${encodeURIComponent(name)}/link`);
    btn.disabled = false;
    btn.textContent = "Download";
    if (state.course !== course) {
      return;
    }
    if (r.status === 401) {
      showLogin(explain(401), true);
      return;
    }
    const url = r.status === 200 && r.data ? httpURL(r.data.url) : null;
    if (!url) {
      filesSay(r.status === 404 ? `"${name}" is no longer available.` :
        r.status === 403 ? "You no longer have access to this course's materials." :
          r.status === 200 ? `The download of "${name}" could not start (bad answer). Please try again.` :
            `The download of "${name}" could not start: ${explain(r.status, name)}`, true);
      return;
    }
    const a = document.createElement("a");
    a.href = url.href;
    a.download = name; // same origin: saved under this name whatever the answer
    a.rel = "noopener";
    a.hidden = true;
    document.body.append(a);
    a.click();
    a.remove();
    filesSay(`The download of ${name} has started.`);
  }

  async function login(email, password) {
    say("");
    const r = await api("POST", "/api/login", { email, password });
    if (r.status === 200 && r.data) {
      $("password").value = "";
      // The browser may drop the session cookie it was just given: Safari/WebKit
      // refuses Secure cookies on http://, and any browser may block cookies for
      // this site. Every later call would then be 401, so say so now.
      const check = await api("GET", "/api/session");
      if (check.status === 401) {
        setState("error");
        show(["login"]);
        say(cookiesRefused(), true);
        return 0;
      }
      showLibrary(r.data);
      return 200;
    }
    if (r.status === 401) {
      say("Wrong email or password.", true);
    } else {
      say(explain(r.status, "this account"), true);
    }
    return r.status;
  }

  async function logout() {
    stopPlayback();
    await api("POST", "/api/logout");
    showLogin("You are logged out.");
  }

  $("login-form").addEventListener("submit", (e) => {
    e.preventDefault();
    login($("email").value, $("password").value);
  });
  $("logout").addEventListener("click", logout);
  $("format").value = state.format;
  $("video").addEventListener("error", async () => {
    if (!state.course || state.hls) {
      return;
    }
    // Native HLS reports no status; a refused playlist is the usual cause. Right
    // after /access, that is a browser that refused the course cookies: play from
    // the cookie-less URL instead (once).
    const course = state.course;
    if (state.mode === "cookies" && state.lastAccess && state.lastAccess.course === course &&
        state.lastAccess.status === 200 && $("video").currentTime === 0) {
      clearTimeout(state.refreshTimer);
      state.refreshTimer = 0;
      state.mode = "url";
      const p = await playbackURL(course, state.format);
      if (state.course !== course) {
        return;
      }
      if (p.status !== 200) {
        failPlayback(p.status, course);
        return;
      }
      state.fallbacks++;
      note("This browser did not accept the course's cookies, so the video plays from a signed link instead.");
      startMedia(course, p.url, {});
      return;
    }
    failPlayback(403, course);
  });
  $("device").addEventListener("click", toggleDevice);
  $("device-copy").addEventListener("click", copyDevice);
  $("device-url").addEventListener("focus", () => $("device-url").select());
  window.addEventListener("hashchange", () => {
    const link = linkFromFragment();
    if (link) {
      playLink(link);
    }
  });

  async function start() {
    const link = linkFromFragment();
    if (link) {
      playLink(link); // no session needed, none asked for
      return;
    }
    const r = await api("GET", "/api/session");
    if (r.status === 200 && r.data) {
      showLibrary(r.data);
      const course = params.get("course");
      if (course) {
        play(course, state.format);
      }
      return;
    }
    if (r.status === 401) {
      showLogin("");
      return;
    }
    showLogin(explain(r.status), true);
  }

  // A small surface for people poking in the console and for the browser tests.
  window.cfgate = { state, play, login, logout, access };
  start();
})();
