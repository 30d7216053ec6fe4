// Design2Code's OCR-free block finder, browser half. A block is the text of one element of
// Design2Code's tag list below, its own text runs only: a nested listed element (a <b> in a
// <p>) is a block of its own, an unlisted one (a <strong>) belongs to its listed ancestor, and
// text with no listed ancestor makes no block. Each block's element gets its colour as an
// !important inline style, as Design2Code does, so unlisted children inherit it unless page
// CSS colours them. Recolouring changes no text, so a second call finds the same blocks.
// Returns the blocks' texts in document order (runs trimmed and joined by a space).
(colors) => {
  const BLOCK_TAGS = new Set(["P", "H1", "H2", "H3", "H4", "H5", "H6", "DIV", "SPAN", "A", "B",
                              "LI", "TABLE", "TD", "TH", "BUTTON", "FOOTER", "HEADER",
                              "FIGCAPTION"]);
  const SKIP = new Set(["SCRIPT", "STYLE", "NOSCRIPT", "TITLE", "TEMPLATE"]);
  const walker = document.createTreeWalker(document.body || document.documentElement,
                                           NodeFilter.SHOW_TEXT);
  const blocks = new Map();  // owning element -> texts
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const text = node.textContent.trim();
    let owner = node.parentElement;
    if (!text || !owner || SKIP.has(owner.tagName)) continue;
    while (owner && !BLOCK_TAGS.has(owner.tagName)) owner = owner.parentElement;
    if (!owner) continue;
    if (!blocks.has(owner)) {
      if (blocks.size >= colors.length) break;
      blocks.set(owner, []);
    }
    blocks.get(owner).push(text);
  }
  [...blocks.keys()].forEach((element, index) => {
    const [r, g, b] = colors[index];
    element.style.setProperty("color", `rgb(${r}, ${g}, ${b})`, "important");
    element.style.setProperty("opacity", "1", "important");
  });
  return [...blocks.values()].map((texts) => texts.join(" "));
}
