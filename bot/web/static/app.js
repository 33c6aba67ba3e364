// The gallery's only script (the Content-Security-Policy allows no inline ones): the sort menu
// applies itself when changed, so keyboard and mouse users need not press Search again.
document.addEventListener("DOMContentLoaded", () => {
  for (const select of document.querySelectorAll("select.autosubmit")) {
    select.addEventListener("change", () => select.form.requestSubmit());
  }
});
