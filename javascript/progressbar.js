// Progress of WebUI jobs: polls POST /internal/progress (A1111 shape) for the tab's current task and shows a bar,
// ETA and the live preview in the gallery's place (over it, as A1111 does) until the task completes; further
// generations queued from the tab are counted on the bar and followed in turn. While a tab has jobs, its Generate
// button gives way to Interrupt / Skip / queue-another (body class "easel-busy-<tab>").
/* global gradioApp */

(function () {
    "use strict";

    const POLL_MS = 500;
    const GIVE_UP_MS = 120000; // a task never seen queued or active within this time is dropped

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

    // tab -> {events: pending Gradio generate events, tasks: [ids in submission order], view, polling, batch}
    const tabs = {};

    function state(tab) {
        if (!tabs[tab]) tabs[tab] = {events: 0, tasks: [], view: null, polling: false, batch: 0};
        return tabs[tab];
    }

    function host(tab) {
        return gradioApp().querySelector("#" + tab + "_results");
    }

    // The overlay covers the gallery exactly (it is a sibling, so selectors of the gallery's own images stay true).
    function place(tab, view) {
        const gallery = gradioApp().querySelector("#" + tab + "_gallery");
        const box = host(tab);
        if (!gallery || !box || !view) return;
        const g = gallery.getBoundingClientRect(), b = box.getBoundingClientRect();
        view.preview.style.top = (g.top - b.top) + "px";
        view.preview.style.left = (g.left - b.left) + "px";
        view.preview.style.width = g.width + "px";
        view.preview.style.height = g.height + "px";
        view.bar.style.top = (g.top - b.top) + "px";
        view.bar.style.left = (g.left - b.left) + "px";
        view.bar.style.width = Math.max(0, g.width - 12) + "px";
    }

    function showView(tab) {
        const s = state(tab);
        if (s.view && s.view.bar.isConnected) return s.view;
        const box = host(tab);
        if (!box) return null;
        for (const old of box.querySelectorAll(".progressDiv, .livePreview")) old.remove();
        const bar = el("div", "progressDiv");
        bar.id = tab + "_progressbar";
        const fill = el("div", "progress");
        fill.textContent = "Waiting...";
        const queued = el("span", "easel-queued");
        queued.id = tab + "_queued";
        bar.append(fill, queued);
        const preview = el("div", "livePreview");
        preview.id = tab + "_live_preview";
        box.append(preview, bar);
        s.view = {bar, fill, queued, preview, idLivePreview: -1};
        place(tab, s.view);
        return s.view;
    }

    function hideView(tab) {
        const s = state(tab);
        if (s.view) {
            s.view.bar.remove();
            s.view.preview.remove();
        }
        s.view = null;
    }

    function setBusy(tab, busy) {
        document.body.classList.toggle("easel-busy-" + tab, busy);
    }

    function updateQueued(tab) {
        const s = state(tab);
        if (!s.view) return;
        const waiting = Math.max(0, s.tasks.length - 1);
        s.view.queued.textContent = waiting ? "+" + waiting + " queued" : "";
        s.view.bar.dataset.queued = String(waiting);
    }

    async function fetchProgress(id, view) {
        try {
            const response = await fetch("internal/progress", {
                method: "POST", credentials: "same-origin", headers: {"Content-Type": "application/json"},
                body: JSON.stringify({id_task: id, id_live_preview: view ? view.idLivePreview : -1, live_preview: true}),
            });
            return await response.json();
        } catch (_e) {
            return null;
        }
    }

    function render(view, res) {
        const percent = Math.round((res.progress || 0) * 100);
        view.fill.style.width = (res.active ? Math.max(percent, 2) : 0) + "%";
        let text = res.queued ? (res.textinfo || "In queue...") : (res.active ? percent + "%" : "Waiting...");
        if (res.active && res.eta) text += " ETA: " + formatTime(res.eta);
        if (res.active && res.textinfo) text += " \u2014 " + res.textinfo;
        view.fill.textContent = text;
        view.bar.dataset.progress = String(res.progress || 0);
        if (res.live_preview) {
            let img = view.preview.querySelector("img");
            if (!img) { img = el("img"); view.preview.append(img); }
            img.src = res.live_preview;
            view.preview.classList.add("easel-shown");
        }
        if (res.id_live_preview !== null && res.id_live_preview !== undefined) view.idLivePreview = res.id_live_preview;
    }

    async function poll(tab) {
        const s = state(tab);
        if (s.polling) return;
        s.polling = true;
        let seenAt = Date.now();
        let current = null;
        while (s.events > 0 || s.tasks.length) {
            if (!s.tasks.length) {
                if (s.events <= 0) break;
                await new Promise((resolve) => setTimeout(resolve, POLL_MS));
                continue;
            }
            const id = s.tasks[0];
            if (id !== current) {
                current = id;
                seenAt = Date.now();
                if (s.view) { s.view.idLivePreview = -1; s.view.preview.classList.remove("easel-shown"); }
            }
            const view = showView(tab);
            updateQueued(tab);
            const res = await fetchProgress(id, view);
            if (res && view) {
                if (res.active || res.queued) seenAt = Date.now();
                if (res.completed) {
                    s.tasks.shift();
                    // An img2img batch names its images' tasks after the first one: follow them too.
                    if (!s.tasks.length && s.events > 0 && /^task\(img2img-[A-Z0-9]+(-b\d+)?\)$/.test(id)) {
                        s.batch += 1;
                        s.tasks.push(id.replace(/(-b\d+)?\)$/, "-b" + s.batch + ")"));
                    }
                    continue;
                }
                render(view, res);
                place(tab, view);
            }
            if (Date.now() - seenAt > GIVE_UP_MS) s.tasks.shift();
            await new Promise((resolve) => setTimeout(resolve, POLL_MS));
        }
        s.polling = false;
        s.tasks = [];
        s.batch = 0;
        hideView(tab);
        setBusy(tab, false);
    }

    // A generate event started in `tab` with the browser-made task id.
    window.requestProgress = function (idTask, tab) {
        const s = state(tab);
        s.events += 1;
        s.tasks.push(idTask);
        setBusy(tab, true);
        showView(tab);
        updateQueued(tab);
        poll(tab);
    };

    // A generate event of `tab` ended (result or error).
    window.easelDone = function (tab) {
        const s = state(tab);
        s.events = Math.max(0, s.events - 1);
        if (s.events === 0) s.tasks = [];
        return [];
    };

    // The task Interrupt / Skip act on: the one running (or first waiting) in this tab.
    window.easelActiveTask = function (tab) {
        const s = state(tab);
        return s.tasks.length ? s.tasks[0] : null;
    };
})();
