/* interop-bus console: progressive enhancement only; every page works without it.
   Served from /console/static/ under script-src 'self' (no inline script anywhere). */
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  // The consent form: offer only the purposes of the chosen service.
  var service = document.getElementById("service");
  var purpose = document.getElementById("purpose");
  if (service && purpose) {
    var sync = function () {
      var first = null;
      Array.prototype.forEach.call(purpose.options, function (option) {
        var fits = option.getAttribute("data-service") === service.value;
        option.hidden = !fits;
        option.disabled = !fits;
        if (fits && first === null) { first = option; }
      });
      if (purpose.selectedOptions.length === 0 || purpose.selectedOptions[0].disabled) {
        if (first !== null) { purpose.value = first.value; }
      }
    };
    service.addEventListener("change", sync);
    sync();
  }
});
