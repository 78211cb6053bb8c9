// Live progress of generation jobs on their admin pages (the job list and a job page),
// polled by progress_poll.js. A job's values stand outside its widget too (the job
// page's fields): each is marked data-job-live="<job id>" and takes its text from the
// progress JSON's `texts` (captions/admin/job_texts.py, which the page uses as well),
// its bars their widths from `bars`.

import { pollProgress } from "./progress_poll.js";

pollProgress("job", (widget, progress) => {
  for (const element of document.querySelectorAll(`[data-job-live="${progress.id}"]`)) {
    if (element.dataset.jobField in progress.texts) {
      element.textContent = progress.texts[element.dataset.jobField];
    }
    if ("jobFailedNote" in element.dataset) {
      element.hidden = progress.failed === 0;
    }
    if (element.dataset.jobBar in progress.bars) {
      element.style.width = `${progress.bars[element.dataset.jobBar]}%`;
    }
  }
});
