// Design2Code's OCR-free block finder, browser half: wrap every visible text run in an
// inline element of its own distinct colour (a custom tag no page CSS targets, so layout
// does not move) and return the runs' texts. Python compares the screenshots before and after.
(colors) => {
  const walker = document.createTreeWalker(document.body || document.documentElement,
                                           NodeFilter.SHOW_TEXT);
  const runs = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const text = node.textContent.replace(/\s+/g, " ").trim();
    const parent = node.parentElement;
    if (!text || !parent || ["SCRIPT", "STYLE", "NOSCRIPT", "TITLE"].includes(parent.tagName)) {
      continue;
    }
    runs.push([node, text]);
  }
  const texts = [];
  for (const [node, text] of runs.slice(0, colors.length)) {
    const [r, g, b] = colors[texts.length];
    const wrap = document.createElement("d2c-run");
    wrap.style.setProperty("color", `rgb(${r}, ${g}, ${b})`, "important");
    wrap.style.setProperty("-webkit-text-fill-color", `rgb(${r}, ${g}, ${b})`, "important");
    wrap.style.setProperty("text-shadow", "none", "important");
    wrap.style.setProperty("opacity", "1", "important");
    node.parentNode.insertBefore(wrap, node);
    wrap.appendChild(node);
    texts.push(text);
  }
  return texts;
}
