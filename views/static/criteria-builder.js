// The criteria builder: edits the criteria tree of the credential form with buttons and fields,
// keeping the JSON textarea (the form's real field) in sync both ways. Without JS the textarea alone
// works. Texts, the course's gradebook columns and the server's errors come from the page.
(() => {
  const dataBlock = document.getElementById('criteria-builder-data');
  const host = document.getElementById('criteria-builder');
  const textarea = document.getElementById('f-criteria');
  const details = document.getElementById('criteria-json');
  if (!dataBlock || !host || !textarea) return;
  const data = JSON.parse(dataBlock.textContent);
  const S = data.strings;
  const GROUP_TYPES = ['allOf', 'anyOf', 'atLeast'];
  const TYPES = [...GROUP_TYPES, 'score', 'completion', 'weightedAverage', 'totalPoints', 'prerequisite', 'staffApproval'];
  const SELECTOR_KINDS = ['lineItemId', 'tag', 'labelPattern', 'resourceLinkId', 'resourceId'];

  let tree = null;
  let serverErrors = data.errors;
  let controlCount = 0;
  /** The control to focus after the next render, by its data-key. */
  let focusKey = null;

  const format = (text, params) => text.replace(/\{\{(\w+)\}\}/g, (_, name) => String(params[name] ?? ''));
  const isObject = (value) => typeof value === 'object' && value !== null && !Array.isArray(value);

  function el(tag, attrs = {}, children = []) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) {
      if (value === undefined || value === null || value === false) continue;
      if (name === 'text') node.textContent = value;
      else if (name.startsWith('on')) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? '' : value);
    }
    for (const child of children) if (child) node.append(child);
    return node;
  }

  /** A labelled control, with a visible hint it is described by when given; `key` names it across renders so focus can return to it. */
  function labelled(labelText, control, key, hint) {
    const id = `cb-${++controlCount}`;
    control.id = id;
    if (key) control.dataset.key = key;
    if (hint) control.setAttribute('aria-describedby', `${id}-hint`);
    return el('div', { class: 'field' }, [el('label', { for: id, text: labelText }), hint && el('p', { class: 'hint', id: `${id}-hint`, text: hint }), control]);
  }

  function button(text, key, onclick, extra = {}) {
    return el('button', { type: 'button', class: 'button button-secondary', 'data-key': key, text, onclick, ...extra });
  }

  function select(options, value, onchange) {
    const control = el('select', { onchange: onchange && ((e) => onchange(e.target.value)) });
    for (const [optionValue, text] of options) control.append(el('option', { value: optionValue, text, selected: optionValue === value }));
    return control;
  }

  function textInput(value, oninput, attrs = {}) {
    return el('input', { type: 'text', value: value ?? '', oninput: (e) => oninput(e.target.value), ...attrs });
  }

  const toNumber = (text) => (text.trim() === '' ? undefined : Number.isFinite(Number(text)) ? Number(text) : text);
  const setOrDelete = (object, field, value) => {
    if (value === undefined || value === '') delete object[field];
    else object[field] = value;
  };

  function defaultSelector() {
    return data.lineItems.length ? { lineItemId: data.lineItems[0].id } : { tag: '' };
  }

  /** A node of `type`, keeping what the old node had that still fits: id, label, selector, children. */
  function nodeOfType(type, old = {}) {
    const keep = {};
    if (old.id !== undefined) keep.id = old.id;
    if (old.label !== undefined) keep.label = old.label;
    const selector = isObject(old.select) ? old.select : defaultSelector();
    switch (type) {
      case 'allOf': case 'anyOf': return { ...keep, type, children: Array.isArray(old.children) ? old.children : [nodeOfType('score')] };
      case 'atLeast': return { ...keep, type, n: 1, children: Array.isArray(old.children) ? old.children : [nodeOfType('score')] };
      case 'score': return { ...keep, type, select: selector, minPercent: 60 };
      case 'completion': return { ...keep, type, select: selector, require: 'completed' };
      case 'weightedAverage': return { ...keep, type, items: [{ select: selector, weight: 1 }], minPercent: 60 };
      case 'totalPoints': return { ...keep, type, select: selector, minPoints: 0 };
      case 'prerequisite': return { ...keep, type, credentialId: data.credentials[0]?.id ?? '' };
      default: return { ...keep, type: 'staffApproval' };
    }
  }

  function writeJson() {
    textarea.value = JSON.stringify(tree, null, 2);
  }

  /** A change of values: the JSON follows, the builder stays as it is (so typing keeps focus). */
  function changed() {
    writeJson();
  }

  /** A change of shape: the JSON follows and the builder is drawn again; old error paths no longer apply. */
  function restructured(nextFocus) {
    serverErrors = [];
    focusKey = nextFocus;
    writeJson();
    render();
  }

  function selectorControls(holder, key) {
    const selector = isObject(holder.select) ? holder.select : (holder.select = defaultSelector());
    const kind = SELECTOR_KINDS.find((k) => selector[k] !== undefined) ?? 'lineItemId';
    const kindControl = select(SELECTOR_KINDS.map((k) => [k, S.selectorKinds[k]]), kind, (next) => {
      holder.select = next === 'lineItemId' ? defaultSelector() : { [next]: '' };
      restructured(`${key}:kind`);
    });
    let valueControl;
    if (kind === 'lineItemId') {
      const options = [['', S.chooseLineItem], ...data.lineItems.map((li) => [li.id, li.tag ? `${li.label} (${li.tag})` : li.label])];
      if (selector.lineItemId && !data.lineItems.some((li) => li.id === selector.lineItemId)) {
        options.push([selector.lineItemId, format(S.missingLineItem, { id: selector.lineItemId })]);
      }
      valueControl = labelled(S.lineItem, select(options, selector.lineItemId ?? '', (value) => {
        holder.select = { lineItemId: value };
        changed();
      }), `${key}:lineItem`);
    } else {
      valueControl = labelled(S.selectorValue, textInput(selector[kind], (value) => {
        holder.select = { [kind]: value };
        changed();
      }), `${key}:value`);
    }
    return el('div', { class: 'field-row' }, [labelled(S.selectorKind, kindControl, `${key}:kind`), valueControl]);
  }

  function windowControls(node, key) {
    const update = (bound) => (value) => {
      const window = isObject(node.window) ? node.window : {};
      setOrDelete(window, bound, value.trim());
      if (Object.keys(window).length) node.window = window;
      else delete node.window;
      changed();
    };
    const window = isObject(node.window) ? node.window : {};
    return el('div', { class: 'field-row' }, [
      labelled(S.windowFrom, textInput(window.from, update('from')), `${key}:from`, format(S.windowExample, { example: '2026-04-01T00:00:00+09:00' })),
      labelled(S.windowTo, textInput(window.to, update('to')), `${key}:to`, format(S.windowExample, { example: '2026-07-31T23:59:59+09:00' })),
    ]);
  }

  function checkbox(labelText, checked, onchange, key) {
    const input = el('input', { type: 'checkbox', checked, 'data-key': key, onchange: (e) => onchange(e.target.checked) });
    return el('label', { class: 'choice' }, [input, ` ${labelText}`]);
  }

  function leafControls(node, key) {
    const parts = [];
    if (node.type === 'score') {
      const unit = node.minPoints !== undefined ? 'points' : 'percent';
      const field = unit === 'points' ? 'minPoints' : 'minPercent';
      parts.push(el('div', { class: 'field-row' }, [
        labelled(S.unit, select([['percent', S.units.percent], ['points', S.units.points]], unit, (next) => {
          const value = node[field];
          delete node.minPercent;
          delete node.minPoints;
          node[next === 'points' ? 'minPoints' : 'minPercent'] = value ?? 0;
          restructured(`${key}:unit`);
        }), `${key}:unit`),
        labelled(unit === 'points' ? S.minPoints : S.minPercent, textInput(node[field], (value) => {
          setOrDelete(node, field, toNumber(value));
          changed();
        }, { inputmode: 'decimal' }), `${key}:threshold`),
      ]));
      parts.push(selectorControls(node, key));
      parts.push(checkbox(S.requireCompleted, node.requireCompleted === true, (on) => { setOrDelete(node, 'requireCompleted', on || undefined); changed(); }, `${key}:completed`));
      parts.push(checkbox(S.requireFullyGraded, node.requireFullyGraded === true, (on) => { setOrDelete(node, 'requireFullyGraded', on || undefined); changed(); }, `${key}:graded`));
      parts.push(windowControls(node, key));
    } else if (node.type === 'completion') {
      parts.push(labelled(S.require, select([['completed', S.requires.completed], ['fullyGraded', S.requires.fullyGraded]], node.require, (value) => {
        node.require = value;
        changed();
      }), `${key}:require`));
      parts.push(selectorControls(node, key));
      parts.push(windowControls(node, key));
    } else if (node.type === 'totalPoints') {
      parts.push(labelled(S.minPoints, textInput(node.minPoints, (value) => { setOrDelete(node, 'minPoints', toNumber(value)); changed(); }, { inputmode: 'decimal' }), `${key}:threshold`));
      parts.push(selectorControls(node, key));
    } else if (node.type === 'weightedAverage') {
      parts.push(labelled(S.minPercent, textInput(node.minPercent, (value) => { setOrDelete(node, 'minPercent', toNumber(value)); changed(); }, { inputmode: 'decimal' }), `${key}:threshold`));
      const items = Array.isArray(node.items) ? node.items : (node.items = []);
      const list = el('ol', { class: 'builder-items' });
      items.forEach((item, i) => {
        const itemKey = `${key}:item${i}`;
        list.append(el('li', {}, [el('fieldset', { class: 'builder-item' }, [
          el('legend', { text: format(S.item, { number: i + 1 }) }),
          selectorControls(item, itemKey),
          labelled(S.weight, textInput(item.weight, (value) => { setOrDelete(item, 'weight', toNumber(value)); changed(); }, { inputmode: 'decimal' }), `${itemKey}:weight`),
          items.length > 1 ? button(S.remove, `${itemKey}:remove`, () => { items.splice(i, 1); restructured(`${key}:addItem`); }) : null,
        ])]));
      });
      parts.push(el('fieldset', { class: 'builder-items-set' }, [el('legend', { text: S.items }), list,
        button(S.addItem, `${key}:addItem`, () => { items.push({ select: defaultSelector(), weight: 1 }); restructured(`${key}:item${items.length - 1}:kind`); })]));
    } else if (node.type === 'prerequisite') {
      const listId = `cb-credentials-${++controlCount}`;
      parts.push(labelled(S.credentialId, textInput(node.credentialId, (value) => { node.credentialId = value.trim(); changed(); }, { list: listId }), `${key}:credential`));
      parts.push(el('datalist', { id: listId }, data.credentials.map((c) => el('option', { value: c.id, label: c.name }))));
    } else if (node.type === 'staffApproval') {
      parts.push(el('p', { class: 'hint', text: S.staffApprovalNote }));
    }
    return parts;
  }

  function labelControls(node, key) {
    const updateLabel = (lang) => (value) => {
      const label = isObject(node.label) ? node.label : {};
      setOrDelete(label, lang, value.trim());
      if (Object.keys(label).length) node.label = label;
      else delete node.label;
      changed();
    };
    const label = isObject(node.label) ? node.label : {};
    return el('div', { class: 'field-row' }, [
      labelled(S.labelJa, textInput(label.ja, updateLabel('ja')), `${key}:labelJa`),
      labelled(S.labelEn, textInput(label.en, updateLabel('en')), `${key}:labelEn`),
      labelled(S.nodeId, textInput(node.id, (value) => { setOrDelete(node, 'id', value.trim()); changed(); }), `${key}:id`),
    ]);
  }

  /** One node as a fieldset; `siblings` is the parent's children array (null for the root). */
  function renderNode(node, siblings, index, path) {
    const key = `node${path}`;
    const type = TYPES.includes(node.type) ? node.type : 'staffApproval';
    const group = GROUP_TYPES.includes(type);
    const legendText = siblings ? `${group ? S.group : S.rule}: ${S.types[type]}` : `${S.rootLabel}: ${S.types[type]}`;
    const box = el('fieldset', { class: `builder-node${group ? ' builder-group' : ''}`, 'data-path': path }, [el('legend', { text: legendText })]);

    box.append(labelled(S.type, select(TYPES.map((t) => [t, S.types[t]]), type, (next) => {
      const replaced = nodeOfType(next, node);
      if (siblings) siblings[index] = replaced;
      else tree = replaced;
      restructured(`${key}:type`);
    }), `${key}:type`));
    box.append(labelControls(node, key));

    if (group) {
      const children = Array.isArray(node.children) ? node.children : (node.children = []);
      if (type === 'atLeast') {
        box.append(labelled(S.n, textInput(node.n, (value) => { setOrDelete(node, 'n', toNumber(value)); changed(); }, { inputmode: 'numeric' }), `${key}:n`));
      }
      const list = el('ol', { class: 'builder-children' });
      children.forEach((child, i) => list.append(el('li', {}, [isObject(child) ? renderNode(child, children, i, `${path === '/' ? '' : path}/children/${i}`) : el('p', { text: JSON.stringify(child) })])));
      box.append(list);
      const newType = select(TYPES.filter((t) => !GROUP_TYPES.includes(t)).map((t) => [t, S.types[t]]), 'score');
      const childKey = (i) => `node${path === '/' ? '' : path}/children/${i}:type`;
      box.append(el('div', { class: 'builder-actions' }, [
        labelled(S.newRuleType, newType, `${key}:newType`),
        button(S.addRule, `${key}:addRule`, () => { children.push(nodeOfType(newType.value)); restructured(childKey(children.length - 1)); }),
        button(S.addGroup, `${key}:addGroup`, () => { children.push(nodeOfType('allOf')); restructured(childKey(children.length - 1)); }),
      ]));
    } else {
      for (const part of leafControls(node, key)) box.append(part);
    }

    if (siblings) {
      const parentKey = `node${path.replace(/\/children\/\d+$/, '') || '/'}`;
      const move = (offset) => () => {
        const [moved] = siblings.splice(index, 1);
        siblings.splice(index + offset, 0, moved);
        restructured(`node${path.replace(/\d+$/, String(index + offset))}:type`);
      };
      box.append(el('div', { class: 'builder-actions' }, [
        index > 0 ? button(S.moveUp, `${key}:up`, move(-1)) : null,
        index < siblings.length - 1 ? button(S.moveDown, `${key}:down`, move(1)) : null,
        button(S.remove, `${key}:remove`, () => { siblings.splice(index, 1); restructured(`${parentKey}:addRule`); }, { class: 'button button-danger' }),
      ]));
    }
    return box;
  }

  /** The server's errors on the nodes they name: each goes to the deepest node its path starts with. */
  function placeErrors() {
    const nodes = [...host.querySelectorAll('[data-path]')];
    serverErrors.forEach((error, i) => {
      const owner = nodes.filter((n) => { const p = n.dataset.path; return p === '/' || error.path === p || error.path.startsWith(`${p}/`); })
        .sort((a, b) => b.dataset.path.length - a.dataset.path.length)[0];
      if (!owner) return;
      const id = `cb-error-${i}`;
      owner.classList.add('field-invalid');
      owner.querySelector('legend').after(el('p', { class: 'field-error', id, text: error.message }));
      const typeControl = owner.querySelector('select');
      typeControl.setAttribute('aria-describedby', [typeControl.getAttribute('aria-describedby'), id].filter(Boolean).join(' '));
    });
  }

  const notice = el('p', { class: 'warning notice', role: 'status', hidden: true, text: S.jsonInvalid });
  const treeHost = el('div');

  function render() {
    controlCount = 0;
    treeHost.replaceChildren(...(isObject(tree) ? [renderNode(tree, null, 0, '/')] : []));
    placeErrors();
    if (focusKey) host.querySelector(`[data-key="${CSS.escape(focusKey)}"]`)?.focus();
    focusKey = null;
  }

  /** Reads the textarea into the builder; unreadable JSON leaves the builder on the last readable tree. */
  function readJson() {
    let parsed;
    try {
      parsed = JSON.parse(textarea.value);
    } catch {
      notice.hidden = false;
      return;
    }
    notice.hidden = isObject(parsed);
    if (!isObject(parsed)) return;
    tree = parsed;
    render();
  }

  host.append(el('h3', { text: S.heading }), el('p', { class: 'hint', text: S.intro }), notice, treeHost);
  host.hidden = false;
  textarea.addEventListener('input', () => {
    serverErrors = [];
    readJson();
  });
  readJson();
  // The JSON stays one click away; it stays open when it is what needs fixing.
  if (details && isObject(tree) && textarea.getAttribute('aria-invalid') !== 'true') details.open = false;
})();
