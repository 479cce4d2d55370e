// Progress of a WebUI job: polls POST /internal/progress (A1111 shape) and shows a bar, ETA and live preview
// over the tab's results column until the task completes.
/* global gradioApp */

(function () {
    "use strict";

    const POLL_MS = 500;
    const GIVE_UP_MS = 120000; // never seen queued or active within this time: stop polling

    function formatTime(seconds) {
        if (seconds === null || seconds === undefined || !isFinite(seconds)) return "";
        seconds = Math.max(0, Math.round(seconds));
        const h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
        if (h) return h + "h " + m + "m " + s + "s";
        if (m) return m + "m " + s + "s";
        return s + "s";
    }

    function el(tag, className) {
        const node = document.createElement(tag);
        if (className) node.className = className;
        return node;
    }

    const active = {};

    // The Generate event ended (result or error): stop that tab's progress display.
    window.easelDone = function (tab) {
        if (active[tab]) active[tab]();
        return [];
    };

    window.requestProgress = function (idTask, tab, onDone) {
        if (active[tab]) active[tab]();
        const results = gradioApp().querySelector("#" + tab + "_results");
        if (!results) return;
        for (const old of results.querySelectorAll(".progressDiv, .livePreview")) old.remove();
        const bar = el("div", "progressDiv");
        bar.id = tab + "_progressbar";
        const fill = el("div", "progress");
        fill.textContent = "Waiting...";
        bar.append(fill);
        const preview = el("div", "livePreview");
        preview.id = tab + "_live_preview";
        results.prepend(preview);
        results.prepend(bar);
        document.body.classList.add("easel-busy-" + tab);

        const started = Date.now();
        let seen = false;
        let idLivePreview = -1;
        let stopped = false;

        function finish() {
            if (stopped) return;
            stopped = true;
            if (active[tab] === finish) delete active[tab];
            bar.remove();
            preview.remove();
            document.body.classList.remove("easel-busy-" + tab);
            if (onDone) onDone();
        }

        async function poll() {
            if (stopped) return;
            let res;
            try {
                const response = await fetch("internal/progress", {
                    method: "POST", credentials: "same-origin", headers: {"Content-Type": "application/json"},
                    body: JSON.stringify({id_task: idTask, id_live_preview: idLivePreview, live_preview: true}),
                });
                res = await response.json();
            } catch (_e) {
                res = null;
            }
            if (res) {
                if (res.completed) return finish();
                if (res.active || res.queued) seen = true;
                const percent = Math.round((res.progress || 0) * 100);
                fill.style.width = (res.active ? Math.max(percent, 2) : 0) + "%";
                let text = res.queued ? (res.textinfo || "In queue...") : (res.active ? percent + "%" : "Waiting...");
                if (res.active && res.eta) text += " ETA: " + formatTime(res.eta);
                if (res.active && res.textinfo) text += " \u2014 " + res.textinfo;
                fill.textContent = text;
                bar.dataset.progress = String(res.progress || 0);
                if (res.live_preview) {
                    let img = preview.querySelector("img");
                    if (!img) { img = el("img"); preview.append(img); }
                    img.src = res.live_preview;
                }
                if (res.id_live_preview !== null && res.id_live_preview !== undefined) idLivePreview = res.id_live_preview;
            }
            if (!seen && Date.now() - started > GIVE_UP_MS) return finish();
            setTimeout(poll, POLL_MS);
        }
        active[tab] = finish;
        poll();
    };
})();
