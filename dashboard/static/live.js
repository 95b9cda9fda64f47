// Streams a site's new beacons into the live table. Text only: nothing a beacon
// carries is ever parsed as HTML.
"use strict";
(function () {
  var status = document.getElementById("live-status");
  var rows = document.getElementById("live-rows");
  if (!status || !rows || !window.WebSocket) return;
  var site = status.getAttribute("data-site");
  var MAX_ROWS = 200;
  var retry = 1000;
  var RATINGS = {
    good: ["●", "Good"],
    "needs-improvement": ["▲", "Needs improvement"],
    poor: ["■", "Poor"]
  };
  function format(metric, value) {
    if (metric === "CLS") return value.toFixed(2);
    return value < 1000 ? Math.round(value) + " ms" : (value / 1000).toFixed(2) + " s";
  }
  function cell(text, className) {
    var td = document.createElement("td");
    td.textContent = text;
    if (className) td.className = className;
    return td;
  }
  function add(beacon) {
    var tr = document.createElement("tr");
    tr.className = "fresh";
    var time = new Date(beacon.ts).toISOString().slice(11, 19);
    tr.appendChild(cell(time));
    tr.appendChild(cell(beacon.metric));
    var value = cell(format(beacon.metric, beacon.value) + " ", "num");
    var rating = RATINGS[beacon.rating];
    if (rating) {
      var badge = document.createElement("span");
      badge.className = "rating " + beacon.rating;
      var icon = document.createElement("span");
      icon.setAttribute("aria-hidden", "true");
      icon.textContent = rating[0];
      var words = document.createElement("span");
      words.className = "visually-hidden";
      words.textContent = rating[1];
      badge.appendChild(icon);
      badge.appendChild(words);
      value.appendChild(badge);
    }
    tr.appendChild(value);
    tr.appendChild(cell(beacon.page, "route"));
    tr.appendChild(cell(beacon.device, "hide-small"));
    tr.appendChild(cell(beacon.browser, "hide-small"));
    rows.insertBefore(tr, rows.firstChild);
    while (rows.children.length > MAX_ROWS) rows.removeChild(rows.lastChild);
    var empty = document.getElementById("live-empty");
    if (empty) empty.hidden = true;
  }
  function connect() {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    var socket = new WebSocket(scheme + location.host + "/ws/live?site=" + encodeURIComponent(site));
    socket.onopen = function () {
      retry = 1000;
      status.textContent = "Live: waiting for beacons…";
    };
    socket.onmessage = function (event) {
      var message = JSON.parse(event.data);
      if (message.type !== "beacons") return;
      message.beacons.forEach(add);
      var when = new Date().toISOString().slice(11, 19);
      status.textContent = "Live: last beacon at " + when + " UTC" +
        (message.omitted ? " (" + message.omitted + " more in that batch not shown)" : "");
    };
    socket.onclose = function () {
      status.textContent = "Disconnected; reconnecting…";
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 30000);
    };
  }
  connect();
})();
