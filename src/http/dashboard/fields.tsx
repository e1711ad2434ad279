import type { Child } from 'hono/jsx';

/** A field's problems, by form field name. */
export type FieldErrors = Partial<Record<string, string>>;

interface FieldProps {
  /** The form field's name; its id is `f-<name>`. */
  name: string;
  label: string;
  hint?: Child;
  error?: string | undefined;
}

const idOf = (name: string) => `f-${name}`;

/** aria-describedby and aria-invalid for a control: its hint, its error, and whether there is one. */
function described(name: string, hint: unknown, error: string | undefined) {
  const ids = [hint ? `${idOf(name)}-hint` : undefined, error ? `${idOf(name)}-error` : undefined].filter(Boolean).join(' ');
  return { id: idOf(name), name, ...(ids ? { 'aria-describedby': ids } : {}), ...(error ? { 'aria-invalid': 'true' as const } : {}) };
}

/** A labelled control, its hint, and its error right below it. */
function Field({ name, label, hint, error, children }: FieldProps & { children: Child }) {
  return (
    <div class={error ? 'field invalid' : 'field'}>
      <label for={idOf(name)}>{label}</label>
      {children}
      {hint ? (
        <p id={`${idOf(name)}-hint`} class="muted hint">
          {hint}
        </p>
      ) : null}
      {error ? (
        <p id={`${idOf(name)}-error`} class="field-error">
          {error}
        </p>
      ) : null}
    </div>
  );
}

export function TextField(props: FieldProps & { value: string; required?: boolean; maxlength?: number; pattern?: string; placeholder?: string }) {
  const { name, hint, error, value, required, maxlength, pattern, placeholder } = props;
  return (
    <Field {...props}>
      <input {...described(name, hint, error)} value={value} required={required} maxlength={maxlength} pattern={pattern} placeholder={placeholder} autocomplete="off" />
    </Field>
  );
}

export function TextArea(props: FieldProps & { value: string; required?: boolean; maxlength?: number; rows?: number }) {
  const { name, hint, error, value, required, maxlength, rows } = props;
  return (
    <Field {...props}>
      <textarea {...described(name, hint, error)} required={required} maxlength={maxlength} rows={rows ?? 6}>
        {value}
      </textarea>
    </Field>
  );
}

/**
 * A choice among known values. A posted value that is not among them (a tampered form) is still shown, marked, so
 * the error next to it makes sense and nothing typed is silently lost.
 */
export function SelectField(props: FieldProps & { value: string; options: Array<{ value: string; label: string }> }) {
  const { name, hint, error, value, options } = props;
  const known = options.some((o) => o.value === value);
  return (
    <Field {...props}>
      <select {...described(name, hint, error)}>
        {options.map((o) => (
          <option value={o.value} selected={o.value === value}>
            {o.label}
          </option>
        ))}
        {known ? null : (
          <option value={value} selected>
            {`${value} (unknown)`}
          </option>
        )}
      </select>
    </Field>
  );
}

/**
 * At the top of a form that was refused: says so to screen readers at once, and links each problem to its field,
 * in the order of `labels` (the form's order).
 */
export function ErrorSummary({ errors, labels }: { errors: FieldErrors; labels: Record<string, string> }) {
  const order = Object.keys(labels);
  const rank = (name: string) => (order.includes(name) ? order.indexOf(name) : order.length);
  const entries = Object.entries(errors)
    .filter((e): e is [string, string] => !!e[1])
    .sort(([a], [b]) => rank(a) - rank(b));
  if (entries.length === 0) return null;
  return (
    <div role="alert" class="notice bad" id="form-errors">
      <p>
        Not saved: {entries.length === 1 ? 'one problem' : `${entries.length} problems`}, shown next to {entries.length === 1 ? 'its field' : 'their fields'}.
      </p>
      <ul>
        {entries.map(([name, message]) => (
          <li>
            <a href={`#${idOf(name)}`}>{labels[name] ?? name}</a>: {message}
          </li>
        ))}
      </ul>
    </div>
  );
}
