// The annotator's queue: keys 1-9 pick a choice, s skips, c focuses the comment,
// Enter submits a multiple choice, Ctrl+Enter a free-text answer.
(function () {
  const form = document.getElementById("label-form");
  if (!form) return;
  const action = document.getElementById("label-action");
  const skip = form.querySelector("[data-skip]");
  skip.addEventListener("click", () => { action.value = "skip"; });
  const typing = (el) => el && (el.tagName === "TEXTAREA" || (el.tagName === "INPUT" && el.type === "text"));
  document.addEventListener("keydown", (event) => {
    if (event.altKey || event.metaKey) return;
    const kind = form.dataset.kind;
    if (typing(event.target)) {
      if (event.key === "Enter" && (event.ctrlKey || kind !== "text")) {
        event.preventDefault();
        form.requestSubmit();
      } else if (event.key === "Escape") {
        event.target.blur();
      }
      return;
    }
    if (event.ctrlKey) return;
    const picked = form.querySelector(`[data-key="${CSS.escape(event.key)}"]`);
    if (picked && event.key !== "") {
      event.preventDefault();
      if (picked.type === "checkbox") picked.checked = !picked.checked;
      else picked.click();
    } else if (event.key === "s") {
      event.preventDefault();
      skip.click();
    } else if (event.key === "c") {
      event.preventDefault();
      document.getElementById("label-comment").focus();
    } else if (event.key === "Enter" && kind === "multi") {
      event.preventDefault();
      form.requestSubmit();
    }
  });
})();
