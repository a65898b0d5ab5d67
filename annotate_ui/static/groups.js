// Cluster page: one zoom for every member, so they are compared at the same scale.
(function () {
  "use strict";
  var zoom = document.getElementById("zoom");
  var list = document.getElementById("members");
  if (!zoom || !list) { return; }
  function apply() { list.style.setProperty("--member-width", zoom.value + "px"); }
  zoom.addEventListener("input", apply);
  apply();
}());
