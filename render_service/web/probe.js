// Gathers layout facts from a rendered page in one call; detectors.py decides what is a defect.
// Runs through DevTools in an isolated world (Browser.evaluate): it works with page JavaScript
// disabled, and page scripts, which share the DOM but not the globals, cannot rewrite it.
// Coordinates are document pixels (origin top-left of the page, independent of scrolling).
// `pseudo`: the text boxes of CSS-generated content (pseudo.py), which no range can measure;
// each showing pseudo-element becomes an entry of its own, numbered from `first`.
({ attr, first, pseudo }) => {
  const tagged = Array.from(document.querySelectorAll(`[${attr}]`));
  const indexOf = new Map(tagged.map((el) => [el, Number(el.getAttribute(attr))]));
  const range = document.createRange();
  const box = (r) => [r.left + scrollX, r.top + scrollY, r.right + scrollX, r.bottom + scrollY];

  const nearestTagged = (el) => {
    for (let p = el.parentElement; p; p = p.parentElement) if (indexOf.has(p)) return indexOf.get(p);
    return -1;
  };

  // Text boxes in reading order, merged per line.
  const lines = (boxes) => {
    const rects = [];
    for (const b of boxes) {
      if (b[2] - b[0] < 1 || b[3] - b[1] < 1) continue;
      const last = rects[rects.length - 1];
      if (last && Math.abs(last[1] - b[1]) < 1 && Math.abs(last[3] - b[3]) < 1) {
        last[0] = Math.min(last[0], b[0]);
        last[2] = Math.max(last[2], b[2]);
      } else rects.push([...b]);
    }
    return rects;
  };

  // Line boxes of the element's own (direct) text.
  const ownText = (el) => {
    const boxes = [];
    for (const node of el.childNodes) {
      if (node.nodeType !== Node.TEXT_NODE || !node.data.trim()) continue;
      range.selectNodeContents(node);
      for (const r of range.getClientRects()) boxes.push(box(r));
    }
    return lines(boxes);
  };

  const inheritedOpacity = (el) => {
    let alpha = 1;
    for (let p = el; p; p = p.parentElement) alpha *= Number(getComputedStyle(p).opacity);
    return alpha;
  };

  // Hit testing sees only the viewport: scroll a document point into it when it lies outside.
  const hitsAt = (x, y) => {
    if (x < scrollX || y < scrollY || x >= scrollX + innerWidth || y >= scrollY + innerHeight)
      scrollTo(Math.max(0, x - innerWidth / 2), Math.max(0, y - innerHeight / 2));
    return document.elementsFromPoint(x - scrollX, y - scrollY);
  };
  // Elements painted at a document point, top first, as tagged indices (-1: untagged).
  const stackAt = (x, y) => hitsAt(x, y).map((el) => (indexOf.has(el) ? indexOf.get(el) : -1));

  // What the detectors read of a box that may show text: its computed style `cs` (an
  // element's, or a pseudo-element's), its box `b` and its text's line boxes.
  const facts = (cs, b, textRects) => ({
    box: b,
    rendered: cs.display !== "none" && cs.visibility === "visible" && (b[2] > b[0] || b[3] > b[1]),
    opacity: Number(cs.opacity),
    display: cs.display,
    flexDirection: cs.flexDirection,
    alignItems: cs.alignItems,
    alignSelf: cs.alignSelf,
    position: cs.position,
    float: cs.float,
    overflowX: cs.overflowX,
    overflowY: cs.overflowY,
    color: cs.color,
    // The colour glyphs are painted in: -webkit-text-fill-color wins over color (and the
    // opacities of what paints it fade it: `alpha`).
    fill: cs.webkitTextFillColor || cs.color,
    background: cs.backgroundColor,
    backgroundImage: cs.backgroundImage !== "none",
    fontSize: parseFloat(cs.fontSize),
    fontWeight: Number(cs.fontWeight) || 400,
    lineHeight: parseFloat(cs.lineHeight) || 0, // 0: "normal"
    margins: [cs.marginTop, cs.marginRight, cs.marginBottom, cs.marginLeft].map(parseFloat),
    paddingX: (parseFloat(cs.paddingLeft) || 0) + (parseFloat(cs.paddingRight) || 0),
    transformed: cs.transform !== "none",
    // It changes the colours of all it paints, its text included.
    repaints: Number(cs.opacity) < 1 || cs.filter !== "none" || cs.mixBlendMode !== "normal",
    // Hit testing passes through it: where it is drawn is not known from the hit stack.
    hittable: cs.pointerEvents !== "none",
    textRects,
  });

  const elements = [];
  for (const el of tagged) {
    const tag = el.tagName.toLowerCase();
    elements.push({
      i: indexOf.get(el),
      parent: nearestTagged(el),
      tag,
      ...facts(getComputedStyle(el), box(el.getBoundingClientRect()), ownText(el)),
      alpha: inheritedOpacity(el),
      replaced: ["img", "svg", "canvas", "video", "iframe", "input", "button", "select", "textarea"].includes(tag),
    });
  }
  // Text that CSS generates (`content` of ::before, ::after, an author's ::marker) is text of
  // its own, painted by its host: hit testing reports the host where it lies. Its box is its
  // text; what it paints behind the text counts for contrast only.
  const hostOf = new Map(tagged.map((el) => [indexOf.get(el), el]));
  for (const { host, which, rects } of pseudo) {
    const el = hostOf.get(host);
    const cs = el && getComputedStyle(el, `::${which}`);
    if (!cs || cs.content === "none" || cs.content === "normal") continue; // a browser's bullet
    const text = lines(rects);
    if (!text.length) continue;
    const union = text.reduce((u, b) => [
      Math.min(u[0], b[0]), Math.min(u[1], b[1]), Math.max(u[2], b[2]), Math.max(u[3], b[3])]);
    elements.push({
      i: first + elements.length - tagged.length,
      parent: host,
      host,
      pseudo: which,
      tag: `${el.tagName.toLowerCase()}::${which}`,
      ...facts(cs, union, text),
      alpha: inheritedOpacity(el) * Number(cs.opacity),
      replaced: false,
    });
  }
  const byIndex = new Map(elements.map((e) => [e.i, e]));

  // What is painted beneath each text, at the centre of its first line: the backgrounds from
  // the text's own element (a pseudo-element's own first) down to the first opaque one
  // (untagged elements included); and the tagged elements painted above it there.
  const painter = (e) => e.host ?? e.i;
  for (const e of elements) {
    if (!e.rendered || !e.textRects.length) continue;
    const [x0, y0, x1, y1] = e.textRects[0];
    const hits = hitsAt((x0 + x1) / 2, (y0 + y1) / 2);
    const own = hits.findIndex((el) => indexOf.get(el) === painter(e));
    if (own < 0) continue;
    e.above = hits.slice(0, own).filter((el) => indexOf.has(el) && !hits[own].contains(el))
      .map((el) => indexOf.get(el));
    const beneath = hits.slice(own).map((el) => {
      const cs = getComputedStyle(el);
      return { i: indexOf.has(el) ? indexOf.get(el) : -1, color: cs.backgroundColor,
        image: cs.backgroundImage !== "none" };
    });
    if (e.host !== undefined) beneath.unshift({ i: e.i, color: e.background, image: e.backgroundImage });
    e.layers = [];
    for (const layer of beneath) {
      e.layers.push(layer);
      if (layer.image || layer.color.startsWith("rgb(")) break;
    }
  }

  // Text runs of unrelated elements that intersect: the hit stack where they meet. An
  // ancestor's own line boxes span its inline children's text, so they enclose it; a
  // pseudo-element's text comes before or after all of its host's, so that pair is unrelated.
  const encloses = (a, b) => {
    if (byIndex.get(b)?.host === a) return false;
    for (let p = byIndex.get(b)?.parent; p !== undefined && p >= 0; p = byIndex.get(p)?.parent)
      if (p === a) return true;
    return false;
  };
  const texts = elements.filter((e) => e.rendered && e.textRects.length);
  const overlaps = [];
  for (let m = 0; m < texts.length; m++) {
    for (let n = m + 1; n < texts.length; n++) {
      const a = texts[m], b = texts[n];
      if (encloses(a.i, b.i) || encloses(b.i, a.i)) continue;
      // The shared region of two of their lines that is thickest both ways: a long sliver where
      // two lines touch must not hide a word printed right over another.
      const thickness = (r) => Math.min(r[2] - r[0], r[3] - r[1]);
      let rect = null;
      for (const ra of a.textRects) {
        for (const rb of b.textRects) {
          const r = [Math.max(ra[0], rb[0]), Math.max(ra[1], rb[1]), Math.min(ra[2], rb[2]), Math.min(ra[3], rb[3])];
          if (r[2] - r[0] <= 1 || r[3] - r[1] <= 1) continue;
          if (!rect || thickness(r) > thickness(rect)) rect = r;
        }
      }
      if (rect) overlaps.push({ a: a.i, b: b.i, rect, stack: stackAt((rect[0] + rect[2]) / 2, (rect[1] + rect[3]) / 2) });
    }
  }
  scrollTo(0, 0);
  const root = document.scrollingElement || document.documentElement;
  const canvasColor = [document.documentElement, document.body]
    .map((el) => el && getComputedStyle(el).backgroundColor)
    .find((c) => c && c !== "rgba(0, 0, 0, 0)");
  return {
    canvasColor: canvasColor || "rgb(255, 255, 255)",
    elements,
    overlaps,
    scrollWidth: root.scrollWidth,
    scrollHeight: root.scrollHeight,
  };
}
