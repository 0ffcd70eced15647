// cfgate player page: log in, list the viewer's courses, get the course's CloudFront
// cookies from POST /api/courses/{id}/access and play its HLS through the distribution.
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
        "refuses Secure cookies on a plain http:// page (Safari and other WebKit browsers do). " +
        "Open this page over https://. Running the local distribution? Start it with " +
        "-insecure-cookies to try it over http://.";
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
    if (state.course !== course) {
      return;
    }
    const status = await access(course);
    if (status === 0) {
      // Transient: try again soon; the current cookies are still valid for a while.
      state.refreshTimer = setTimeout(() => refresh(course), MIN_REFRESH_MS);
      return;
    }
    if (status !== 200) {
      failPlayback(status, course);
    }
  }

  function stopPlayback() {
    clearTimeout(state.refreshTimer);
    state.refreshTimer = 0;
    if (state.hls) {
      state.hls.destroy();
      state.hls = null;
    }
    const v = $("video");
    v.pause();
    v.removeAttribute("src");
    v.load();
    state.course = "";
    $("player").hidden = true;
  }

  function failPlayback(status, course) {
    stopPlayback();
    if (status === 401) {
      showLogin(explain(401), true);
      return;
    }
    setState("error");
    say(explain(status, `the course "${course}"`), true);
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
    const video = $("video");
    const src = `/courses/${encodeURIComponent(course)}/${format}/master.m3u8`;
    const c = state.courses.find((x) => x.id === course);
    $("now-playing").textContent = (c && c.title) || course;
    $("player").hidden = false;
    const which = engine(video);
    $("player-info").textContent = `${format === "ts" ? "MPEG-TS" : "fMP4"} · ${which === "native" ? "native HLS" : "hls.js"}`;
    video.muted = true;
    video.loop = loop;
    if (which === "hlsjs") {
      const hls = new Hls({
        // Looping keeps little buffered, so every pass fetches its segments again.
        ...(loop ? { maxBufferLength: 4, maxMaxBufferLength: 4, backBufferLength: 0 } : {}),
        xhrSetup: (xhr) => {
          xhr.withCredentials = true;
        },
        fetchSetup: (context, init) => {
          init.credentials = "include";
          return new Request(context.url, init);
        },
      });
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
        if (code === 403 && useAccess) {
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
    try {
      await video.play();
    } catch (e) {
      // Autoplay can be refused; the controls let the viewer start it.
    }
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
  $("video").addEventListener("error", () => {
    if (state.course && !state.hls) {
      failPlayback(403, state.course); // native HLS reports no status; a refused playlist is the usual cause
    }
  });

  async function start() {
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
