// The "Launch a job" form: the model follows the backend, the endpoint is offered
// only to a backend that sends requests, and the price fields show the known price
// of the model that an empty field stands for.

const form = document.querySelector("[data-job-launch-form]");
const defaultModels = JSON.parse(
  document.getElementById("job-launch-default-models").textContent,
);
const knownPrices = JSON.parse(
  document.getElementById("job-launch-known-prices").textContent,
);
const defaults = new Set(Object.values(defaultModels));

function showKnownPrices() {
  const prices = knownPrices[form.elements.model.value.trim()];
  const fields = [form.elements.price_in_per_million, form.elements.price_out_per_million];
  fields.forEach((field, index) => {
    field.placeholder = prices ? `${prices[index]} (known price)` : "no known price";
  });
}

function offerEndpoint() {
  // A disabled field is not submitted: the offline backend needs no endpoint.
  form.elements.endpoint.disabled = form.elements.backend.value === "offline";
}

form.elements.backend.addEventListener("change", () => {
  offerEndpoint();
  const model = form.elements.model;
  // Replace a default, never a model someone typed.
  if (model.value.trim() === "" || defaults.has(model.value.trim())) {
    model.value = defaultModels[form.elements.backend.value] ?? "";
    showKnownPrices();
  }
});
form.elements.model.addEventListener("input", showKnownPrices);
offerEndpoint();
showKnownPrices();
