// Keyboard movement shared by the widgets drawn in JavaScript (the WAI-ARIA "roving focus"
// pattern): Arrow Right/Down go to the next item, Arrow Left/Up to the previous one (both
// wrap around), Home and End to the first and last.  Returns the item to move to, or null
// when the key is not a movement key.
export function rovingTarget(items, index, key) {
  switch (key) {
    case "ArrowRight":
    case "ArrowDown":
      return items[(index + 1) % items.length];
    case "ArrowLeft":
    case "ArrowUp":
      return items[(index - 1 + items.length) % items.length];
    case "Home":
      return items[0];
    case "End":
      return items[items.length - 1];
    default:
      return null;
  }
}
