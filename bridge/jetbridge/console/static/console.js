// The console page: lists the bridge's actions, renders the chosen one's form, runs it, shows
// the outcome. Everything goes through POST /api/messages/ (api.js).
import { authorization, curlLine, send, setAuthorization } from './api.js';
import { el, Invalid, parseId, renderField } from './fields.js';

const state = { actions: [], current: null, fields: [], downloadUrl: null };
const $ = (id) => document.getElementById(id);

function modelsOf(action) {
  if (!action.model_action) return [];
  const model = action.model_action.model;
  return Array.isArray(model) ? model : [model];
}

function groupName(action) {
  return action.model_action ? `Collection ${modelsOf(action).join(', ')}` : 'Common actions';
}

async function loadActions() {
  const status = $('list-status');
  status.textContent = 'Loading actions…';
  const answer = await send('get_action_list');
  $('groups').replaceChildren();
  if (!answer.ok || !Array.isArray(answer.body)) {
    const detail = answer.body && answer.body.detail ? answer.body.detail : answer.networkError || '';
    status.textContent = `get_action_list failed: HTTP ${answer.status} ${detail}`;
    if (answer.status === 401 || answer.status === 403) $('authorization').focus();
    return;
  }
  state.actions = answer.body;
  status.textContent = `${answer.body.length} action(s)`;
  const groups = new Map();
  for (const action of answer.body) {
    const name = groupName(action);
    if (!groups.has(name)) groups.set(name, []);
    groups.get(name).push(action);
  }
  const names = [...groups.keys()].sort((a, b) => (a === 'Common actions') - (b === 'Common actions') || a.localeCompare(b));
  for (const name of names) {
    const list = el('ul', { className: 'action-list' });
    for (const action of groups.get(name)) list.append(el('li', {}, actionButton(action)));
    $('groups').append(el('section', { className: 'group' }, el('h3', { text: name }), list));
  }
  const wanted = decodeURIComponent(window.location.hash.slice(1));
  const chosen = state.actions.find((action) => action.name === wanted);
  if (chosen) choose(chosen, false);
}

function actionButton(action) {
  const meta = action.jetbridge || {};
  const button = el('button', { type: 'button', className: 'action', 'data-action': action.name },
    el('span', { className: 'label', text: action.label || action.name }),
    el('span', { className: 'meta', text: [action.name, action.icon && `icon ${action.icon}`, meta.service || '?'].filter(Boolean).join(' · ') }));
  if (meta.conflicts) button.append(el('span', { className: 'badge warn', text: 'conflict' }));
  button.addEventListener('click', () => choose(action, true));
  return button;
}

function choose(action, focus) {
  state.current = action;
  window.history.replaceState(null, '', `#${encodeURIComponent(action.name)}`);
  for (const button of document.querySelectorAll('button.action')) {
    if (button.dataset.action === action.name) button.setAttribute('aria-current', 'true');
    else button.removeAttribute('aria-current');
  }
  renderAction(action);
  if (focus) $('action-heading').focus();
}

function details(action) {
  const meta = action.jetbridge || {};
  const rows = [['Name', action.name], ['Service', meta.service || 'not given by the bridge']];
  if (action.icon) rows.push(['Icon', action.icon]);
  if (action.model_action) {
    rows.push(['Collection', modelsOf(action).join(', ')]);
    const selection = action.model_action.for_instance ? (action.model_action.bulk ? 'selected records, in one call (bulk)' : 'one record per call') : 'the whole collection';
    rows.push(['Runs on', selection]);
  } else {
    rows.push(['Kind', 'common action']);
  }
  const list = el('dl', { className: 'details' });
  for (const [term, value] of rows) list.append(el('dt', { text: term }), el('dd', { text: value }));
  return list;
}

function recordSelection(action) {
  const model = action.model_action;
  if (!model) return null;
  const box = el('fieldset', { className: 'records' }, el('legend', { text: 'Records' }));
  const models = modelsOf(action);
  if (models.length > 1) {
    const select = el('select', { id: 'model', name: 'model' });
    for (const name of models) select.append(el('option', { value: name, text: name }));
    box.append(el('label', { for: 'model', text: 'Collection' }), select);
  }
  if (!model.for_instance) {
    box.append(el('p', { className: 'hint', text: 'A collection action: Jet sends no record ids.' }));
    return box;
  }
  const modes = model.bulk
    ? [['one', 'One record (id)'], ['several', 'Several records (ids)'], ['except', 'All records except these (inverseIds)']]
    : [['one', 'One record (id)']];
  const radios = el('div', { className: 'modes', role: 'radiogroup', 'aria-label': 'Selection' });
  modes.forEach(([value, text], index) => {
    const id = `selection-${value}`;
    radios.append(el('span', { className: 'mode' },
      el('input', { type: 'radio', name: 'selection', id, value, checked: index === 0 }),
      el('label', { for: id, text })));
  });
  box.append(radios,
    el('label', { for: 'ids', text: 'Record id(s), comma-separated' }),
    el('input', { id: 'ids', name: 'ids', type: 'text', autocomplete: 'off', 'aria-describedby': 'ids-errors' }),
    el('ul', { className: 'errors', id: 'ids-errors' }));
  return box;
}

function renderAction(action) {
  const main = $('action');
  const heading = el('h2', { id: 'action-heading', tabindex: '-1', text: action.label || action.name });
  const parts = [heading];
  if (action.description) parts.push(el('p', { className: 'description', text: action.description }));
  parts.push(details(action));
  const meta = action.jetbridge || {};
  if (meta.conflicts) {
    parts.push(el('div', { className: 'conflicts', role: 'note' }, el('h3', { text: 'Conflicts' }),
      el('ul', {}, ...meta.conflicts.map((text) => el('li', { text })))));
  }
  const form = el('form', { id: 'run', novalidate: true, 'aria-labelledby': 'action-heading' });
  form.append(el('div', { id: 'form-errors', className: 'form-errors', role: 'alert' }));
  const selection = recordSelection(action);
  if (selection) form.append(selection);
  state.fields = (action.params || []).map((param) => renderField(param, loadOptions));
  if (state.fields.length) {
    const inputs = el('fieldset', { className: 'inputs' }, el('legend', { text: 'Inputs' }),
      el('p', { className: 'hint', text: 'Empty inputs are left out of the message, as Jet leaves out blank fields.' }));
    for (const field of state.fields) inputs.append(field.element);
    form.append(inputs);
  } else {
    form.append(el('p', { className: 'hint', text: 'This action takes no inputs.' }));
  }
  form.append(el('button', { type: 'submit', className: 'run', text: `Run ${action.label || action.name}` }));
  form.addEventListener('submit', (event) => { event.preventDefault(); run(); });
  form.addEventListener('change', (event) => refreshOptions(event.target));
  const outcome = el('section', { id: 'outcome', 'aria-labelledby': 'outcome-heading', 'aria-live': 'polite' });
  parts.push(form, outcome);
  main.replaceChildren(...parts);
  refreshOptions(null);
}

// The form's current values, skipping those that cannot be read (bad JSON).
function formValues() {
  const values = {};
  for (const field of state.fields) {
    const value = field.read();
    if (value !== undefined && !(value instanceof Invalid)) {
      values[field.name] = value;
    }
  }
  return values;
}

function modelOf(action) {
  const select = $('model');
  return select ? select.value : modelsOf(action)[0] || '';
}

function loadOptions(fieldName, form) {
  return send('get_field_options', { model: modelOf(state.current), field: fieldName, form });
}

let refreshTimer = null;
// Dynamic selects depend on the rest of the form: ask again when anything else changes.
function refreshOptions(changed) {
  const dynamic = state.fields.filter((field) => field.kind === 'dynamic' && field.input !== changed);
  if (!dynamic.length) return;
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => {
    const form = formValues();
    for (const field of dynamic) field.refresh(form);
  }, 150);
}

function selectionParams(action, errors) {
  const params = {};
  if (!action.model_action) return params;
  params.model = modelOf(action);
  if (!action.model_action.for_instance) return params;
  const mode = document.querySelector('input[name="selection"]:checked').value;
  const ids = $('ids').value.split(',').map((part) => part.trim()).filter(Boolean).map(parseId);
  if (mode === 'one') {
    if (ids.length !== 1) errors.ids = ['give exactly one record id'];
    else params.id = ids[0];
  } else if (mode === 'several') {
    if (!ids.length) errors.ids = ['give one or more record ids'];
    params.ids = ids;
    params.inverseIds = false;
  } else {
    params.ids = ids;
    params.inverseIds = true;
  }
  return params;
}

function showErrors(errors) {
  const known = new Set(state.fields.map((field) => field.name));
  for (const field of state.fields) field.showErrors(listOf(errors[field.name]));
  const idsErrors = $('ids-errors');
  if (idsErrors) idsErrors.replaceChildren(...listOf(errors.ids).map((text) => el('li', { text })));
  const general = [];
  for (const [key, messages] of Object.entries(errors)) {
    if (key === 'non_field_errors') general.push(...listOf(messages));
    else if (!known.has(key) && !(key === 'ids' && idsErrors)) general.push(...listOf(messages).map((text) => `${key}: ${text}`));
  }
  $('form-errors').replaceChildren(...(general.length ? [el('ul', {}, ...general.map((text) => el('li', { text })))] : []));
}

function listOf(value) {
  if (value === undefined || value === null) return [];
  return (Array.isArray(value) ? value : [value]).map(String);
}

async function run() {
  const action = state.current;
  const errors = {};
  const params = selectionParams(action, errors);
  params.name = action.name;
  const inputs = {};
  for (const field of state.fields) {
    const value = field.read();
    if (value instanceof Invalid) {
      errors[field.name] = [value.message];
    } else if (value !== undefined) {
      inputs[field.name] = value;
    }
  }
  params.params = inputs;
  showErrors(errors);
  if (Object.keys(errors).length) {
    focusFirstError();
    return;
  }
  const button = document.querySelector('#run button.run');
  button.disabled = true;
  const answer = await send('execute_action', ordered(params));
  button.disabled = false;
  const body = answer.body;
  if (answer.status === 400 && body && typeof body === 'object') {
    showErrors(body.errors && typeof body.errors === 'object' ? body.errors : withoutSummary(body));
    focusFirstError();
  } else if (body && body.result === false && body.errors) {
    showErrors(body.errors);
  }
  renderOutcome(answer);
}

function withoutSummary(body) {
  const { detail, result, ...rest } = body;
  return Object.keys(rest).length ? rest : { non_field_errors: [detail] };
}

function focusFirstError() {
  const invalid = document.querySelector('#run [aria-invalid="true"]');
  if (invalid) invalid.focus();
}

// Keys in the order of PROTOCOL.md's examples: model, name, id(s), inverseIds, params.
function ordered(params) {
  const keys = ['model', 'name', 'id', 'ids', 'inverseIds', 'params'];
  return Object.fromEntries(keys.filter((key) => key in params).map((key) => [key, params[key]]));
}

function summary(answer) {
  if (answer.networkError) return { text: `No answer: ${answer.networkError}`, kind: 'error' };
  const body = answer.body;
  if (answer.file) return { text: `HTTP ${answer.status}: a file`, kind: 'ok' };
  if (answer.ok && body && body.result !== false) return { text: `HTTP ${answer.status}: succeeded`, kind: 'ok' };
  if (answer.status === 400) return { text: `HTTP 400: the action refused its inputs`, kind: 'error' };
  const detail = body && body.detail ? `: ${body.detail}` : '';
  return { text: `HTTP ${answer.status}${detail}`, kind: 'error' };
}

function renderOutcome(answer) {
  const outcome = $('outcome');
  if (state.downloadUrl) URL.revokeObjectURL(state.downloadUrl);
  state.downloadUrl = null;
  const { text, kind } = summary(answer);
  const parts = [el('h3', { id: 'outcome-heading', text: 'Outcome' }),
    el('p', { className: `status ${kind}`, id: 'outcome-status', text })];
  const facts = el('dl', { className: 'details' },
    el('dt', { text: 'Request id' }), el('dd', { id: 'request-id', text: answer.requestId || 'none (no X-Request-ID header)' }),
    el('dt', { text: 'Time' }), el('dd', { id: 'elapsed', text: `${answer.ms.toFixed(0)} ms` }));
  parts.push(facts);
  const body = answer.body;
  if (body && typeof body === 'object' && !Array.isArray(body)) {
    if (body.message) parts.push(el('p', { className: 'message', id: 'outcome-message', text: body.message }));
    if (body.html) {
      // No allow-scripts, no allow-same-origin, and a policy that allows nothing from anywhere.
      const frame = el('iframe', { id: 'outcome-html', title: 'HTML result', sandbox: '' });
      frame.srcdoc = `<!doctype html><meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">${body.html}`;
      parts.push(frame);
    }
  }
  if (answer.file) {
    state.downloadUrl = URL.createObjectURL(answer.file.blob);
    parts.push(el('p', {}, el('a', { id: 'download', href: state.downloadUrl, download: answer.file.filename,
      text: `Save ${answer.file.filename} (${answer.file.contentType || 'unknown type'}, ${answer.file.blob.size} bytes)` })));
  }
  parts.push(raw('Request', JSON.stringify(answer.message, null, 2), 'raw-request'),
    raw('Same request with curl', curlLine(answer.message), 'raw-curl'),
    raw(`Response (HTTP ${answer.status}${answer.contentType ? `, ${answer.contentType}` : ''})`, responseText(answer), 'raw-response'));
  outcome.replaceChildren(...parts);
}

function responseText(answer) {
  if (answer.file) return `(file ${answer.file.filename}, ${answer.file.blob.size} bytes)`;
  if (answer.networkError) return answer.networkError;
  return answer.json ? JSON.stringify(answer.body, null, 2) : answer.text;
}

function raw(title, text, id) {
  const copy = el('button', { type: 'button', className: 'copy', 'aria-label': `Copy: ${title}`, text: 'Copy' });
  copy.addEventListener('click', () => navigator.clipboard && navigator.clipboard.writeText(text).catch(() => {}));
  return el('details', { className: 'raw' }, el('summary', { text: title }),
    el('pre', { id, tabindex: '0' }, text), copy);
}

function start() {
  const input = $('authorization');
  input.value = authorization();
  $('auth').addEventListener('submit', (event) => {
    event.preventDefault();
    input.value = setAuthorization(input.value);
    loadActions();
  });
  $('forget').addEventListener('click', () => {
    input.value = setAuthorization('');
    loadActions();
  });
  loadActions();
}

start();
