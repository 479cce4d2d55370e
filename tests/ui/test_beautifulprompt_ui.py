"""The BeautifulPrompt tab in headless Chromium: expand a short prompt and send it to txt2img."""
from __future__ import annotations

from tests.ui.conftest import open_tab, set_number, small_job


def test_expand_and_send_to_txt2img(page):
    open_tab(page, "BeautifulPrompt")
    page.fill("#beautifulprompt_input textarea", "a lighthouse at dusk")
    set_number(page, "beautifulprompt_count", 3)
    set_number(page, "beautifulprompt_seed", 7)
    page.click("#beautifulprompt_expand")
    page.wait_for_function(
        "() => document.querySelector('#beautifulprompt_results textarea').value.split('\\n').length === 3")
    prompts = page.locator("#beautifulprompt_results textarea").input_value().split("\n")
    assert all(p.startswith("a lighthouse at dusk") and len(p) > len("a lighthouse at dusk") for p in prompts)
    page.locator("#beautifulprompt_selected label", has_text=prompts[1]).click()  # choose the second one
    page.click("#beautifulprompt_to_txt2img")
    page.locator("#txt2img_prompt textarea").wait_for(state="visible")  # the txt2img tab is open
    page.wait_for_function("(text) => document.querySelector('#txt2img_prompt textarea').value === text", arg=prompts[1])
    # Gradio got the value too (not just the DOM): a generation uses it.
    small_job(page, "txt2img", steps=2)
    page.click("#txt2img_generate")
    page.wait_for_function("(text) => document.querySelector('#txt2img_info textarea').value.startsWith(text)",
                           arg=prompts[1])


def test_enter_expands_and_shift_enter_adds_a_line(page):
    """Bug 8: Enter in the input did not expand the prompt."""
    open_tab(page, "BeautifulPrompt")
    box = page.locator("#beautifulprompt_input textarea")
    box.fill("a quiet harbour")
    box.press("Shift+Enter")
    box.type("at dawn")
    assert box.input_value() == "a quiet harbour\nat dawn"  # Shift+Enter: a new line, nothing expanded
    assert page.locator("#beautifulprompt_results textarea").input_value() == ""
    box.fill("a quiet harbour")
    box.press("Enter")
    page.wait_for_function("() => document.querySelector('#beautifulprompt_results textarea').value.length > 0")
    assert box.input_value() == "a quiet harbour"  # Enter expanded instead of adding a line
    assert page.locator("#beautifulprompt_results textarea").input_value().startswith("a quiet harbour")
