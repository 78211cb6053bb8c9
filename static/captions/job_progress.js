// Live progress of generation jobs on their admin pages (the job list and a job page).
//
// Polls (progress_poll.js) the progress endpoint (selectors.job_summary as JSON) of
// every widget marked data-job-progress-url whose job is active, updates every value
// marked data-job-live="<job id>" and the job's status badges, and reloads the page
// once a job has ended, so its buttons, failures and error then come from the server.
//
// The formatting here matches captions/admin/jobs.py (money_text, actual_cost_text,
// duration_text, rate_text): a value looks the same before and after the first poll.

import { pollProgress } from "./progress_poll.js";

const ACTIVE = new Set(["queued", "running", "cancelling"]);

const number = (value) => value.toLocaleString("en-US");

function money(value) {
  if (value === null || value === undefined) {
    return "unknown price";
  }
  if (value >= 1) {
    return `$${value.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
  }
  return `$${value.toFixed(4)}`;
}

function duration(seconds) {
  if (seconds === null || seconds === undefined) {
    return "—";
  }
  const whole = Math.round(seconds);
  const pad = (part) => String(part).padStart(2, "0");
  if (whole < 60) {
    return `${whole} s`;
  }
  if (whole < 3600) {
    return `${Math.floor(whole / 60)} min ${pad(whole % 60)} s`;
  }
  return `${Math.floor(whole / 3600)} h ${pad(Math.floor((whole % 3600) / 60))} min`;
}

const rate = (perSecond) => (perSecond === null ? "—" : `${perSecond.toFixed(1)} / s`);

function render(summary) {
  const texts = {
    done: number(summary.done),
    failed: number(summary.failed),
    total: number(summary.total),
    rate: rate(summary.rate_per_s),
    eta: duration(summary.eta_s),
    tokens_in: number(summary.tokens_in),
    tokens_out: number(summary.tokens_out),
    // Without a price the workers count the cost as 0; it is not known.
    actual_cost: money(summary.estimated_cost === null ? null : summary.actual_cost),
  };
  const total = Math.max(summary.total, 1);
  const widths = {
    done: (100 * summary.done) / total,
    failed: (100 * summary.failed) / total,
  };
  for (const element of document.querySelectorAll(`[data-job-live="${summary.id}"]`)) {
    if (element.dataset.jobField in texts) {
      element.textContent = texts[element.dataset.jobField];
    }
    if ("jobFailedNote" in element.dataset) {
      element.hidden = summary.failed === 0;
    }
    if (element.dataset.jobBar in widths) {
      element.style.width = `${widths[element.dataset.jobBar].toFixed(2)}%`;
    }
  }
  for (const badge of document.querySelectorAll(`[data-job-badge="${summary.id}"]`)) {
    badge.className = `job-status job-status--${summary.status}`;
    badge.textContent = summary.status[0].toUpperCase() + summary.status.slice(1);
  }
}

pollProgress(
  [...document.querySelectorAll("[data-job-progress-url]")].filter((widget) =>
    ACTIVE.has(widget.dataset.jobStatus),
  ),
  {
    url: (widget) => widget.dataset.jobProgressUrl,
    // A job's values may stand outside its widget (the job page's fields): render
    // finds them by the job id in the summary.
    render: (widget, summary) => render(summary),
    isActive: (summary) => ACTIVE.has(summary.status),
  },
);
