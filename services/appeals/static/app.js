/* Staff UI behaviour: deadline countdowns, live updates (SSE), the operator console.
 * Vanilla JS, no dependencies. Text from the server is only ever inserted with textContent. */
(function () {
  "use strict";
  var body = document.body;
  var lang = body.dataset.lang || "zh-CN";
  var soonMs = (parseInt(body.dataset.dueSoonMinutes || "120", 10) || 120) * 60000;
  var words = lang === "en"
    ? { left: "left", over: "overdue by", d: "d", h: "h", m: "m", s: "s" }
    : { left: "剩余", over: "已超时", d: "天", h: "时", m: "分", s: "秒" };

  function span(ms) {
    var s = Math.floor(Math.abs(ms) / 1000);
    var d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600);
    var m = Math.floor((s % 3600) / 60), sec = s % 60;
    var pad = function (n) { return (n < 10 ? "0" : "") + n; };
    return (d ? d + words.d + " " : "") + pad(h) + words.h + pad(m) + words.m + pad(sec) + words.s;
  }

  // ---------------------------------------------------------------- toasts
  var toasts = document.getElementById("toasts");
  function toast(kind, message) {
    if (!toasts) { return; }
    var el = document.createElement("div");
    el.className = "toast " + kind;
    el.setAttribute("role", "status");
    el.textContent = message;
    toasts.appendChild(el);
    setTimeout(function () { el.remove(); }, 8000);
  }

  // ---------------------------------------------------------------- countdowns
  function tick() {
    var now = Date.now();
    document.querySelectorAll(".countdown[data-due]").forEach(function (el) {
      var due = Date.parse(el.dataset.due);
      if (isNaN(due)) { return; }
      var left = due - now;
      el.textContent = left >= 0 ? words.left + " " + span(left) : words.over + " " + span(left);
      el.classList.toggle("late", left < 0);
      el.classList.toggle("soon", left >= 0 && left <= soonMs);
      // A deadline passing while the page is open is worth a warning, once.
      if (left < 0 && el.dataset.wasLate === "0") {
        var row = el.closest("tr");
        toast("deadline", (toasts ? toasts.dataset.deadline : "") + " · " +
          (row ? row.dataset.tracking : "") + " · " + (toasts ? toasts.dataset.overdue : ""));
      }
      el.dataset.wasLate = left < 0 ? "1" : "0";
    });
  }
  tick();
  setInterval(tick, 1000);

  // ---------------------------------------------------------------- live panel
  var panel = document.getElementById("live-panel");
  var refreshing = null;
  var fresh = {};
  // Leave the panel alone while someone works in it (an open form, a focused field or
  // button): replacing it would close the form under their hands. Try again shortly.
  function busy() {
    var active = document.activeElement;
    return Boolean(panel.querySelector("details[open]") ||
      (active && active !== document.body && panel.contains(active) &&
       /INPUT|TEXTAREA|SELECT|BUTTON|SUMMARY/.test(active.tagName)));
  }
  function refreshPanel() {
    if (!panel || !panel.dataset.src) { return; }
    if (refreshing) { clearTimeout(refreshing); }
    refreshing = setTimeout(function () {
      refreshing = null;
      if (busy()) { refreshPanel(); return; }
      fetch(panel.dataset.src, { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (r) {
          if (r.redirected || r.status === 401) { window.location = "/login"; return null; }
          return r.ok ? r.text() : null;
        })
        .then(function (html) {
          if (html === null || html === undefined) { return; }
          if (busy()) { refreshPanel(); return; }  // they started working while we fetched
          var doc = new DOMParser().parseFromString(html, "text/html");
          panel.replaceChildren.apply(panel, Array.prototype.slice.call(doc.body.childNodes));
          Object.keys(fresh).forEach(function (id) {
            var row = panel.querySelector('tr[data-id="' + CSS.escape(id) + '"]');
            if (row) { row.classList.add("fresh"); }
          });
          fresh = {};
          tick();
          body.dataset.panelRefreshes = String((parseInt(body.dataset.panelRefreshes || "0", 10)) + 1);
        })
        .catch(function () { /* the next event or reconnect refreshes again */ });
    }, 250);
  }

  // ---------------------------------------------------------------- server-sent events
  var liveState = document.getElementById("live-state");
  function setLive(on) {
    if (!liveState) { return; }
    liveState.classList.toggle("on", on);
    liveState.textContent = on ? liveState.dataset.on : liveState.dataset.off;
  }
  if (body.dataset.live && window.EventSource) {
    var source = new EventSource(body.dataset.live);
    source.addEventListener("ready", function () {
      setLive(true);
      body.dataset.liveReady = "1";
      refreshPanel();  // whatever changed while we were not listening
    });
    source.addEventListener("error", function () { setLive(false); body.dataset.liveReady = "0"; });
    source.addEventListener("logout", function () { source.close(); window.location = "/login"; });
    source.addEventListener("appeal", function (e) {
      var msg;
      try { msg = JSON.parse(e.data); } catch (err) { return; }
      fresh[msg.id] = true;
      if (msg.kind === "new_work") {
        toast("new_work", toasts.dataset.newWork + " · " + msg.tracking_no);
      } else if (msg.kind === "deadline") {
        toast("deadline", toasts.dataset.deadline + " · " + msg.tracking_no);
      }
      var page = document.getElementById("appeal");
      if (page && page.dataset.id === msg.id &&
          parseInt(page.dataset.version, 10) < (msg.version || 0)) {
        toast("changed", toasts.dataset.changed + " · " + msg.tracking_no);
      }
      refreshPanel();
    });
  }

  // ---------------------------------------------------------------- forms
  document.addEventListener("submit", function (e) {
    var button = e.target.querySelector("button[type=submit]");
    // One press, one command: a second click would only meet a version conflict.
    if (button) { setTimeout(function () { button.disabled = true; }, 0); }
  });

  // ---------------------------------------------------------------- operator console
  var intake = document.getElementById("intake");
  if (!intake) { return; }
  var textBox = document.getElementById("appeal_text");
  var matter = document.getElementById("matter");
  var address = document.getElementById("address");
  var addressList = document.getElementById("address-options");
  var chips = document.getElementById("matter-suggestions");
  var dupBox = document.getElementById("duplicates");
  var suggested = [];

  function debounce(fn, ms) {
    var timer = null;
    return function () {
      if (timer) { clearTimeout(timer); }
      timer = setTimeout(fn, ms);
    };
  }
  function getJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .catch(function () { return null; });
  }

  function choose(index) {
    var pick = suggested[index];
    if (!pick) { return; }
    matter.value = pick.matter;
    chips.querySelectorAll(".chip").forEach(function (c, i) { c.classList.toggle("chosen", i === index); });
    checkDuplicates();
  }

  var suggestMatters = debounce(function () {
    var value = textBox.value.trim();
    if (value.length < 2) { chips.replaceChildren(); suggested = []; return; }
    getJSON(intake.dataset.suggestMatters + "?text=" + encodeURIComponent(value)).then(function (data) {
      chips.replaceChildren();
      if (!data || !data.available) {
        var note = document.createElement("span");
        note.className = "muted";
        note.textContent = chips.dataset.unavailable;
        chips.appendChild(note);
        suggested = [];
        return;
      }
      suggested = data.items.slice(0, 5);
      if (!suggested.length) { return; }
      var label = document.createElement("span");
      label.className = "muted";
      label.textContent = chips.dataset.label + ":";
      chips.appendChild(label);
      suggested.forEach(function (item, i) {
        var chip = document.createElement("button");
        chip.type = "button";
        chip.className = "chip" + (matter.value === item.matter ? " chosen" : "");
        chip.tabIndex = -1;  // Alt+1..5 from the keyboard; Tab goes on to the next field
        chip.dataset.matter = item.matter;
        chip.textContent = "Alt+" + (i + 1) + " " + item.name +
          (typeof item.score === "number" ? " " + Math.round(item.score * 100) + "%" : "");
        chip.addEventListener("click", function () { choose(i); });
        chips.appendChild(chip);
      });
      checkDuplicates();
    });
  }, 300);

  var suggestAddresses = debounce(function () {
    var value = address.value.trim();
    if (!value) { return; }
    getJSON(intake.dataset.suggestAddresses + "?q=" + encodeURIComponent(value)).then(function (data) {
      if (!data || !data.items) { return; }
      addressList.replaceChildren.apply(addressList, data.items.map(function (item) {
        var option = document.createElement("option");
        option.value = item.label;
        return option;
      }));
    });
    checkDuplicates();
  }, 250);

  var checkDuplicates = debounce(function () {
    var where = address.value.trim();
    var what = matter.value || (suggested[0] && suggested[0].matter) || "";
    if (!where || !what) { dupBox.hidden = true; return; }
    getJSON(intake.dataset.duplicates + "?address=" + encodeURIComponent(where) +
            "&matter=" + encodeURIComponent(what)).then(function (data) {
      if (!data || !data.items || !data.items.length) { dupBox.hidden = true; return; }
      dupBox.replaceChildren();
      var title = document.createElement("strong");
      title.textContent = dupBox.dataset.label;
      dupBox.appendChild(title);
      var list = document.createElement("ul");
      data.items.forEach(function (item) {
        var li = document.createElement("li");
        var link = document.createElement("a");
        link.href = "/appeals/" + encodeURIComponent(item.id);
        link.target = "_blank";
        link.textContent = item.tracking_no;
        li.appendChild(link);
        li.appendChild(document.createTextNode(" · " + item.state + " · " + item.matter +
          " · " + item.received_at + " · " + item.text));
        list.appendChild(li);
      });
      dupBox.appendChild(list);
      dupBox.hidden = false;
    });
  }, 300);

  textBox.addEventListener("input", suggestMatters);
  address.addEventListener("input", suggestAddresses);
  matter.addEventListener("change", checkDuplicates);
  textBox.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      intake.requestSubmit();
    }
  });
  document.addEventListener("keydown", function (e) {
    if (e.altKey && !e.ctrlKey && /^[1-5]$/.test(e.key)) {
      e.preventDefault();
      choose(parseInt(e.key, 10) - 1);
    }
  });
  if (textBox.value) { suggestMatters(); }
})();
