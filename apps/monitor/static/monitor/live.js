/* Live summaries (issue 7: "pages of active tasks refresh their summaries without a full reload").
   Every element with data-live-url is refreshed from that URL (a ?json endpoint answering
   {"fragment": "<html>", "final": bool}) every data-live-interval seconds; the refresh stops once
   the server says the object reached a final state, or after repeated errors. No dependencies. */
(function () {
  "use strict";
  var MAX_ERRORS = 5;

  function start(element) {
    var url = element.getAttribute("data-live-url");
    var seconds = parseInt(element.getAttribute("data-live-interval"), 10) || 60;
    var errors = 0;
    var timer = null;

    function stop() {
      if (timer !== null) { window.clearInterval(timer); timer = null; }
      element.removeAttribute("data-live-url");
    }

    function refresh() {
      if (document.hidden) { return; }
      fetch(url, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
        .then(function (response) {
          if (!response.ok) { throw new Error("HTTP " + response.status); }
          return response.json();
        })
        .then(function (data) {
          errors = 0;
          if (typeof data.fragment === "string") { element.innerHTML = data.fragment; }
          element.setAttribute("data-live-updated", new Date().toISOString());
          if (data.final) { stop(); }
        })
        .catch(function () {
          errors += 1;
          if (errors >= MAX_ERRORS) { stop(); }
        });
    }

    timer = window.setInterval(refresh, seconds * 1000);
  }

  document.querySelectorAll("[data-live-url]").forEach(start);
})();
