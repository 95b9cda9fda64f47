// Small progressive enhancements; every page works without them.
"use strict";
(function () {
  // Hover or focus a chart point or bar: show its sentence next to it.
  document.querySelectorAll(".chart").forEach(function (chart) {
    var tip = document.createElement("div");
    tip.className = "tooltip";
    tip.hidden = true;
    tip.setAttribute("aria-hidden", "true");
    chart.appendChild(tip);
    var active = null;
    function show(target) {
      if (active) active.classList.remove("active");
      active = target;
      target.classList.add("active");
      tip.textContent = target.getAttribute("data-tip");
      var box = chart.getBoundingClientRect();
      var mark = target.getBoundingClientRect();
      tip.hidden = false;
      var left = mark.left - box.left + mark.width / 2 - tip.offsetWidth / 2;
      tip.style.left = Math.max(0, Math.min(left, box.width - tip.offsetWidth)) + "px";
      tip.style.top = Math.max(0, mark.top - box.top - tip.offsetHeight - 8) + "px";
    }
    function hide() {
      if (active) active.classList.remove("active");
      active = null;
      tip.hidden = true;
    }
    // One listener per chart (not per point) keeps start-up work small.
    chart.addEventListener("pointerover", function (event) {
      var mark = event.target.closest ? event.target.closest("[data-tip]") : null;
      if (mark && mark !== active) show(mark);
    });
    chart.addEventListener("pointerleave", hide);
  });
  // Filters apply as soon as one changes; the Apply button stays for keyboards and no-JS.
  document.querySelectorAll("form.filters").forEach(function (form) {
    form.addEventListener("change", function () { form.requestSubmit(); });
  });
})();
