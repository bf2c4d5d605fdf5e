// Live refresh: the server streams the page's live part (already rendered and escaped)
// whenever it changes; nothing else runs here and nothing is ever sent back.
(function () {
  "use strict";
  var live = document.getElementById("live");
  var badge = document.getElementById("connection");
  if (!live || !window.EventSource) { return; }
  var stream = new EventSource("events");
  stream.onopen = function () { badge.textContent = "live"; badge.className = "connection on"; };
  stream.onmessage = function (event) {
    live.innerHTML = event.data;
    badge.textContent = "live";
    badge.className = "connection on";
  };
  stream.onerror = function () { badge.textContent = "reconnecting…"; badge.className = "connection off"; };
})();
