// An action's form inputs, one per Jet field type, each able to read its value and show errors.
let counter = 0;

// What read() returns for an input whose text cannot be sent (bad JSON).
export class Invalid {
  constructor(message) {
    this.message = message;
  }
}

export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'text') node.textContent = value;
    else if (key === 'className') node.className = value;
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

const TEXT_AREAS = new Set(['TextField', 'CodeField', 'SqlField']);
const INPUT_TYPES = {
  IntegerField: { type: 'number', step: '1', inputmode: 'numeric' },
  FloatField: { type: 'number', step: 'any', inputmode: 'decimal' },
  DecimalField: { type: 'text', inputmode: 'decimal' },
  DateField: { type: 'date' },
  TimeField: { type: 'time', step: '1' },
  DateTimeField: { type: 'datetime-local', step: '1' },
  TimestampField: { type: 'datetime-local', step: '1' },
};

// A record id as Jet sends it: a number when it looks like one, else the string (UUIDs).
export function parseId(text) {
  const value = text.trim();
  return /^-?\d{1,15}$/.test(value) ? Number(value) : value;
}

function kindOf(param) {
  const field = param.field || 'CharField';
  const options = param.params || {};
  if (field === 'SelectField' || options.options_type) {
    return options.options_type === 'dynamic' ? 'dynamic' : 'static';
  }
  if (field === 'BooleanField') return 'boolean';
  if (field === 'JSONField') return 'json';
  if (field === 'ForeignKey') return 'foreign';
  if (TEXT_AREAS.has(field)) return 'textarea';
  return 'input';
}

function control(param, kind, id) {
  const field = param.field || 'CharField';
  const common = { id, name: param.name, required: param.required, 'aria-required': param.required };
  if (kind === 'boolean') return el('input', { ...common, type: 'checkbox' });
  if (kind === 'textarea' || kind === 'json') {
    const code = kind === 'json' || field !== 'TextField';
    return el('textarea', { ...common, rows: kind === 'json' ? 5 : 3, className: code ? 'code' : '', spellcheck: !code });
  }
  if (kind === 'static' || kind === 'dynamic') return el('select', common);
  if (kind === 'foreign') return el('input', { ...common, type: 'text', inputmode: 'numeric', autocomplete: 'off' });
  return el('input', { ...common, type: 'text', autocomplete: 'off', ...(INPUT_TYPES[field] || {}) });
}

function fillOptions(select, options, required, keep) {
  select.replaceChildren(el('option', { value: '', text: required ? 'Choose…' : '—' }));
  select.jetValues = options.map((option) => option.value);
  options.forEach((option, index) => {
    select.append(el('option', { value: String(index), text: option.name ?? String(option.value) }));
  });
  const found = select.jetValues.findIndex((value) => JSON.stringify(value) === JSON.stringify(keep));
  select.value = found >= 0 ? String(found) : '';
}

// One input: {name, element, read(), showErrors(list), refresh(form)}.
export function renderField(param, loadOptions) {
  counter += 1;
  const id = `field-${counter}-${param.name}`;
  const kind = kindOf(param);
  const input = control(param, kind, id);
  const label = el('label', { for: id }, param.label || param.name);
  // Outside the label, so that its text is the name alone; aria-required says it to readers.
  const star = param.required ? el('span', { className: 'required', 'aria-hidden': 'true', text: '*' }) : null;
  const help = [];
  const described = [];
  const type = el('span', { className: 'type', text: kindNote(param, kind) });
  if (param.description) {
    const note = el('p', { className: 'hint', id: `${id}-help`, text: param.description });
    help.push(note);
    described.push(note.id);
  }
  const status = el('p', { className: 'hint', id: `${id}-status`, role: kind === 'dynamic' ? 'status' : null });
  const errors = el('ul', { className: 'errors', id: `${id}-errors` });
  described.push(status.id, errors.id);
  input.setAttribute('aria-describedby', described.join(' '));
  const wrapper = el('div', { className: `field field-${kind}`, 'data-field': param.name });
  if (kind === 'boolean') wrapper.append(el('div', { className: 'label-row' }, input, label, star, type));
  else wrapper.append(el('div', { className: 'label-row' }, label, star, type), input);
  wrapper.append(...help, status, errors);

  const initial = param.default_value;
  if (kind === 'static') fillOptions(input, param.params.options || [], param.required, initial);
  else if (kind === 'dynamic') fillOptions(input, [], param.required, initial);
  else if (kind === 'boolean') input.checked = Boolean(initial);
  else if (kind === 'json' && initial !== undefined) input.value = JSON.stringify(initial, null, 2);
  else if (initial !== undefined && initial !== null) input.value = String(initial);

  let wanted = initial;
  const field = {
    name: param.name,
    kind,
    element: wrapper,
    input,
    // The value as Jet sends it; undefined leaves the key out; Invalid when it cannot be read.
    read() {
      if (kind === 'boolean') return input.checked;
      if (kind === 'static' || kind === 'dynamic') {
        return input.value === '' ? undefined : input.jetValues[Number(input.value)];
      }
      const text = input.value;
      if (text.trim() === '') return undefined;
      if (kind === 'json') {
        try {
          return JSON.parse(text);
        } catch (error) {
          return new Invalid(`not valid JSON: ${error.message}`);
        }
      }
      if (kind === 'foreign') return parseId(text);
      if (param.field === 'IntegerField' || param.field === 'FloatField') return Number(text);
      return text;
    },
    showErrors(messages) {
      errors.replaceChildren(...messages.map((message) => el('li', { text: message })));
      if (messages.length) input.setAttribute('aria-invalid', 'true');
      else input.removeAttribute('aria-invalid');
      wrapper.classList.toggle('invalid', messages.length > 0);
    },
    // Dynamic options: asked again with the current form whenever another input changes.
    async refresh(form) {
      if (kind !== 'dynamic') return;
      if (input.value !== '') wanted = input.jetValues[Number(input.value)];
      status.textContent = 'Loading options…';
      const answer = await loadOptions(param.name, form);
      if (answer.ok && Array.isArray(answer.body)) {
        fillOptions(input, answer.body, param.required, wanted);
        status.textContent = `${answer.body.length} option(s) from get_field_options`;
      } else {
        const detail = answer.body && answer.body.detail ? `: ${answer.body.detail}` : '';
        status.textContent = `Options failed (HTTP ${answer.status || 'error'})${detail}`;
      }
    },
  };
  if (kind === 'dynamic') input.addEventListener('change', () => { wanted = field.read(); });
  return field;
}

function kindNote(param, kind) {
  const field = param.field || 'CharField';
  if (kind === 'dynamic') return `${field}, options from the server`;
  if (kind === 'foreign') {
    const model = param.params && param.params.related_model && param.params.related_model.model;
    return model ? `${field} → ${model} id` : `${field} id`;
  }
  return field;
}
