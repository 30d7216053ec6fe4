// Gathers layout facts from a rendered page in one call; detectors.py decides what is a defect.
// Runs through DevTools in an isolated world (Browser.evaluate): it works with page JavaScript
// disabled, and page scripts, which share the DOM but not the globals, cannot rewrite it.
// Coordinates are document pixels (origin top-left of the page, independent of scrolling).
(attr) => {
  const tagged = Array.from(document.querySelectorAll(`[${attr}]`));
  const indexOf = new Map(tagged.map((el) => [el, Number(el.getAttribute(attr))]));
  const range = document.createRange();
  const box = (r) => [r.left + scrollX, r.top + scrollY, r.right + scrollX, r.bottom + scrollY];

  const nearestTagged = (el) => {
    for (let p = el.parentElement; p; p = p.parentElement) if (indexOf.has(p)) return indexOf.get(p);
    return -1;
  };

  // Line boxes of the element's own (direct) text, merged per line.
  const ownText = (el) => {
    const rects = [];
    let chars = 0;
    for (const node of el.childNodes) {
      if (node.nodeType !== Node.TEXT_NODE || !node.data.trim()) continue;
      chars += node.data.trim().length;
      range.selectNodeContents(node);
      for (const r of range.getClientRects()) {
        if (r.width < 1 || r.height < 1) continue;
        const b = box(r);
        const last = rects[rects.length - 1];
        if (last && Math.abs(last[1] - b[1]) < 1 && Math.abs(last[3] - b[3]) < 1) {
          last[0] = Math.min(last[0], b[0]);
          last[2] = Math.max(last[2], b[2]);
        } else rects.push(b);
      }
    }
    return { rects, chars };
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

  const elements = [];
  for (const el of tagged) {
    const cs = getComputedStyle(el);
    const r = el.getBoundingClientRect();
    const text = ownText(el);
    elements.push({
      i: indexOf.get(el),
      parent: nearestTagged(el),
      tag: el.tagName.toLowerCase(),
      box: box(r),
      rendered: cs.display !== "none" && cs.visibility === "visible" && (r.width > 0 || r.height > 0),
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
      // The colour glyphs are painted in: -webkit-text-fill-color wins over color, and the
      // opacity of the element and every ancestor fades it into what lies beneath.
      fill: cs.webkitTextFillColor || cs.color,
      alpha: inheritedOpacity(el),
      background: cs.backgroundColor,
      backgroundImage: cs.backgroundImage !== "none",
      fontSize: parseFloat(cs.fontSize),
      fontWeight: Number(cs.fontWeight) || 400,
      lineHeight: parseFloat(cs.lineHeight) || 0, // 0: "normal"
      margins: [cs.marginTop, cs.marginRight, cs.marginBottom, cs.marginLeft].map(parseFloat),
      transformed: cs.transform !== "none",
      textRects: text.rects,
      chars: text.chars,
      replaced: ["img", "svg", "canvas", "video", "iframe", "input", "button", "select", "textarea"].includes(
        el.tagName.toLowerCase(),
      ),
    });
  }
  const byIndex = new Map(elements.map((e) => [e.i, e]));

  // What is painted beneath each text, at the centre of its first line: the backgrounds from
  // the text's own element down to the first opaque one (untagged elements included).
  for (const e of elements) {
    if (!e.rendered || !e.textRects.length) continue;
    const [x0, y0, x1, y1] = e.textRects[0];
    const hits = hitsAt((x0 + x1) / 2, (y0 + y1) / 2);
    const own = hits.findIndex((el) => indexOf.get(el) === e.i);
    if (own < 0) continue;
    e.layers = [];
    for (const el of hits.slice(own)) {
      const cs = getComputedStyle(el);
      e.layers.push({ i: indexOf.has(el) ? indexOf.get(el) : -1, color: cs.backgroundColor,
        image: cs.backgroundImage !== "none" });
      if (cs.backgroundImage !== "none" || cs.backgroundColor.startsWith("rgb(")) break;
    }
  }

  // Text runs of unrelated elements that intersect: the hit stack where they meet.
  const isAncestor = (a, b) => {
    for (let p = byIndex.get(b)?.parent; p !== undefined && p >= 0; p = byIndex.get(p)?.parent)
      if (p === a) return true;
    return false;
  };
  const texts = elements.filter((e) => e.rendered && e.textRects.length);
  const overlaps = [];
  for (let m = 0; m < texts.length; m++) {
    for (let n = m + 1; n < texts.length; n++) {
      const a = texts[m], b = texts[n];
      if (isAncestor(a.i, b.i) || isAncestor(b.i, a.i)) continue;
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
