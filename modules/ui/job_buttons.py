"""Generate / Interrupt / Skip / queue another, for txt2img and img2img.

The browser names each task (so javascript/progressbar.js can poll /internal/progress for it while Gradio waits
for the result). While a tab has a job running, Generate gives way to Interrupt and Skip plus a "queue another"
button; every further generation is a task of its own on the queue, counted on the progress bar.
"""
from __future__ import annotations

from collections.abc import Callable

import gradio as gr

from modules.ui.common import interrupt_task, skip_task
from modules.ui.form import Form
from modules.ui.outputs import OutputPanel
from modules.ui.toprow import TopRow


def wire_job_buttons(services, tab: str, row: TopRow, form: Form, output: OutputPanel, run: Callable) -> None:
    outputs = [output.gallery, output.generation_info, output.info, output.html_log, output.selected]

    async def event(request: gr.Request, id_task, *values):  # Gradio passes the request first (its annotation)
        return await run(id_task, form.values(values), getattr(request, "username", None))

    generated = row.generate.click(event, inputs=[row.id_task, *form.components], outputs=outputs,
                                   concurrency_limit=None, js=f"(...args) => window.easelSubmit('{tab}', args)",
                                   show_progress="hidden", api_visibility="private",
                                   trigger_mode="multiple")  # a click while one runs queues another job
    generated.then(None, None, None, js=f"() => window.easelDone('{tab}')")  # also after an error
    row.enqueue.click(None, None, None, js=f"() => {{ window.easelEnqueue('{tab}'); return []; }}")
    row.interrupt.click(lambda task: interrupt_task(services, task), [row.id_task], None, concurrency_limit=None,
                        js=f"(task) => window.easelCurrentTask('{tab}', task)", api_visibility="private")
    row.skip.click(lambda task: skip_task(services, task), [row.id_task], None, concurrency_limit=None,
                   js=f"(task) => window.easelCurrentTask('{tab}', task)", api_visibility="private")
