// Design2Code's OCR-free block finder, browser half. A block is the text of one text-bearing
// element (Design2Code's list of tags below; inline children such as <b> belong to it) or,
// for text outside them, of its parent element. Each text run is wrapped in an inline element
// of its block's colour (a custom tag no page CSS targets, so layout does not move; the colour
// sits on the run itself, so page rules on <b> or <em> cannot override it). Returns the
// blocks' texts in document order; Python compares the screenshots before and after.
(colors) => {
  const BLOCK_TAGS = new Set(["P", "H1", "H2", "H3", "H4", "H5", "H6", "DIV", "SPAN", "A",
                              "LI", "TABLE", "TD", "TH", "BUTTON", "FOOTER", "HEADER"]);
  const SKIP = new Set(["SCRIPT", "STYLE", "NOSCRIPT", "TITLE", "TEMPLATE"]);
  const walker = document.createTreeWalker(document.body || document.documentElement,
                                           NodeFilter.SHOW_TEXT);
  const runs = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const text = node.textContent.replace(/\s+/g, " ").trim();
    const parent = node.parentElement;
    if (text && parent && !SKIP.has(parent.tagName)) runs.push([node, text]);
  }
  const blocks = new Map();  // owning element -> [index, texts]
  for (const [node, text] of runs) {
    let owner = node.parentElement;
    while (owner && !BLOCK_TAGS.has(owner.tagName)) owner = owner.parentElement;
    owner = owner || node.parentElement;
    if (!blocks.has(owner)) {
      if (blocks.size >= colors.length) break;
      blocks.set(owner, [blocks.size, []]);
    }
    const [index, texts] = blocks.get(owner);
    texts.push(text);
    const [r, g, b] = colors[index];
    const wrap = document.createElement("d2c-run");
    for (const property of ["color", "-webkit-text-fill-color"]) {
      wrap.style.setProperty(property, `rgb(${r}, ${g}, ${b})`, "important");
    }
    wrap.style.setProperty("text-shadow", "none", "important");
    wrap.style.setProperty("opacity", "1", "important");
    node.parentNode.insertBefore(wrap, node);
    wrap.appendChild(node);
  }
  return [...blocks.values()].map(([, texts]) => texts.join(" "));
}
