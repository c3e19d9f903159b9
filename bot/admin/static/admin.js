/* The admin site's behaviour, from a file (the Content-Security-Policy runs no inline handlers).
 *
 * - A form (or a submit button) with data-confirm="问题？" asks before it is sent.
 * - The declarative lists' bulk form (#lv-bulk): tick all, the count, a confirmation with {n}.
 * - The lists' filter row (form.lv-filters): folded on phones until 更多筛选 is tapped.
 */
(function () {
  "use strict";

  function bulkForm(form) {
    var all = form.querySelector("[data-lv-all]"), count = form.querySelector("[data-lv-count]");
    function boxes() {
      return Array.prototype.slice.call(document.querySelectorAll('input[name="ids"][form="lv-bulk"]'));
    }
    function picked() { return boxes().filter(function (b) { return b.checked; }).length; }
    function update() {
      var n = picked();
      if (count) count.textContent = n ? "已选 " + n + " 条" : "未选择";
      if (all) all.checked = n > 0 && n === boxes().length;
    }
    if (all) {
      all.addEventListener("change", function () {
        boxes().forEach(function (b) { b.checked = all.checked; });
        update();
      });
    }
    document.addEventListener("change", function (e) { if (e.target.name === "ids") update(); });
    form.addEventListener("submit", function (e) {
      var n = picked(), button = e.submitter;
      if (!n) { e.preventDefault(); alert("请先勾选要处理的记录"); return; }
      if (button && button.dataset.confirm && !confirm(button.dataset.confirm.replace("{n}", n))) e.preventDefault();
    });
  }

  function filterForm(form) {
    var toggle = form.querySelector(".lv-toggle"), active = +form.dataset.active || 0;
    if (!toggle) return;
    function show(open) {
      form.classList.toggle("lv-collapsed", !open);
      toggle.setAttribute("aria-expanded", open ? "true" : "false");
      toggle.textContent = open ? "收起筛选" : "更多筛选" + (active ? "（" + active + "）" : "");
    }
    form.classList.add("lv-js");
    show(active > 0);
    toggle.addEventListener("click", function () { show(form.classList.contains("lv-collapsed")); });
  }

  // Confirmation questions on ordinary forms and buttons (not the bulk form: it counts first).
  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (!(form instanceof HTMLFormElement) || form.id === "lv-bulk") return;
    var button = e.submitter, question = (button && button.dataset.confirm) || form.dataset.confirm;
    if (question && !confirm(question)) e.preventDefault();
  });

  function init() {
    var bulk = document.getElementById("lv-bulk");
    if (bulk) bulkForm(bulk);
    Array.prototype.forEach.call(document.querySelectorAll("form.lv-filters"), filterForm);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
