// The "try a movie" form of /docs: sends the movie to POST /predict as JSON, then shows the
// rating with its interval, or the service's messages next to the fields they are about.
// The service is the only validator: the form sends what was typed, and shows what it says.
"use strict";

const PREDICT_PATH = "/predict";
const JSON_NUMBER = /^-?\d+(\.\d+)?([eE][+-]?\d+)?$/;

// A field's JSON value, or undefined when left empty (the service then applies its default,
// or names a required field as missing).
function fieldValue(field) {
  const inputs = [...field.querySelectorAll("input")];
  const text = inputs[0].value.trim();
  switch (field.dataset.kind) {
    case "boolean":
      return inputs[0].checked;
    case "choices":
      return inputs.filter((input) => input.checked).map((input) => input.value);
    case "list":
      return text ? text.split(/[\s,]+/).filter(Boolean) : undefined;
    case "integer":
    case "number":
      // Anything but a number literal goes as typed, for the service to say what is wrong.
      return text ? (JSON_NUMBER.test(text) ? Number(text) : text) : undefined;
    case "string":
      return text ? inputs[0].value : undefined;
    default:
      throw new Error(`no reader for field kind ${field.dataset.kind}`);
  }
}

function movieOf(form) {
  const movie = {};
  for (const field of form.querySelectorAll("[data-field]")) {
    const value = fieldValue(field);
    if (value !== undefined) movie[field.dataset.field] = value;
  }
  return movie;
}

// marshmallow keys the messages of a list's items by index ({"1": ["Not an IMDb name id."]}):
// each message then names the item it is about, as sent.
function messagesOf(messages, sent) {
  if (typeof messages === "string") return [messages];
  if (Array.isArray(messages)) return messages.flatMap((inner) => messagesOf(inner, sent));
  return Object.entries(messages).flatMap(([index, inner]) => {
    const item = Array.isArray(sent) && index in sent ? JSON.stringify(sent[index]) : `Item ${index}`;
    return messagesOf(inner, undefined).map((message) => `${item}: ${message}`);
  });
}

function showError(element, messages) {
  element.textContent = messages.join(" ");
  element.hidden = false;
}

function clearAnswer(form, result) {
  result.hidden = true;
  for (const error of form.querySelectorAll(".field-error")) {
    error.hidden = true;
    error.textContent = "";
  }
  for (const input of form.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
}

function showPrediction(result, prediction) {
  result.querySelector("#rating").textContent = String(prediction.rating);
  result.querySelector("#coverage").textContent = `${Math.round(prediction.interval.coverage * 100)}%`;
  result.querySelector("#interval-low").textContent = String(prediction.interval.low);
  result.querySelector("#interval-high").textContent = String(prediction.interval.high);
  result.querySelector("#model-id").textContent = prediction.model_id;
  result.hidden = false;
}

// A 422 names fields; messages about no field of the form (or any other error) go below it.
function showErrors(form, movie, answer) {
  const formLevel = [];
  for (const [name, messages] of Object.entries(answer.fields || {})) {
    const field = form.querySelector(`[data-field="${CSS.escape(name)}"]`);
    if (field === null) {
      formLevel.push(`${name}: ${messagesOf(messages, movie[name]).join(" ")}`);
      continue;
    }
    showError(field.querySelector(".field-error"), messagesOf(messages, movie[name]));
    for (const input of field.querySelectorAll("input")) input.setAttribute("aria-invalid", "true");
  }
  if (!answer.fields) formLevel.push(answer.message);
  if (formLevel.length) showError(form.querySelector("#form-error"), formLevel);
}

async function answerOf(response) {
  try {
    return await response.json();
  } catch (error) {
    return { message: `The service answered ${response.status} without JSON (${error.message}).` };
  }
}

async function submit(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const result = document.getElementById("result");
  const button = form.querySelector("button[type=submit]");
  clearAnswer(form, result);
  button.disabled = true;
  const movie = movieOf(form);
  try {
    const response = await fetch(PREDICT_PATH, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(movie),
    });
    const answer = await answerOf(response);
    if (response.ok) showPrediction(result, answer);
    else showErrors(form, movie, answer);
  } catch (error) {
    showError(form.querySelector("#form-error"), [`The service did not answer: ${error.message}`]);
  } finally {
    button.disabled = false;
  }
}

document.getElementById("try-a-movie").addEventListener("submit", submit);
