"""Accessibility checks in the browser tests: axe-core (the npm package, vendored in tests/vendor/axe-core)
run on a page as a person has it, and the page at 200 % text size on a phone.

The staff app's Content-Security-Policy lets in only its own scripts, so a context that runs axe is opened
with ``bypass_csp`` (the page itself is unchanged).
"""

from __future__ import annotations

from pathlib import Path

AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
AXE_VERSION = "4.14.1"
#: the rules of WCAG 2.1 A and AA that axe checks
WCAG = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


async def violations(page, impacts: tuple[str, ...] = ("serious", "critical")) -> list[str]:
    """The page's axe violations of these impacts, each as ``rule: what (where)``."""
    if not await page.evaluate("typeof window.axe !== 'undefined'"):
        await page.add_script_tag(path=str(AXE))
    found = await page.evaluate(
        """async (tags) => {
            const result = await axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']});
            return result.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                               where: v.nodes.slice(0, 3).map(n => n.target.join(' '))}));
        }""", WCAG)
    return [f"{v['id']} ({v['impact']}): {v['help']} at {', '.join(v['where'])}" for v in found
            if v["impact"] in impacts]


async def overflows_at_double_text(page) -> list[str]:
    """With the text at 200 %, what is wider than the screen (nothing should be: no sideways scrolling)."""
    return await page.evaluate(
        """() => {
            document.documentElement.style.fontSize = '200%';
            const width = document.documentElement.clientWidth;
            const wide = [];
            for (const el of document.querySelectorAll('main *, header *')) {
                const box = el.getBoundingClientRect();
                if (box.width > 0 && box.right > width + 1 && getComputedStyle(el).position !== 'fixed'
                    && !el.closest('.scroll-x')) {
                    const named = typeof el.className === 'string' && el.className;
                    const kind = named ? '.' + el.className.split(' ')[0] : '';
                    wide.push(el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + kind);
                }
            }
            document.documentElement.style.fontSize = '';
            return [...new Set(wide)].slice(0, 10);
        }""")
