"""The supervised start of the tiny policies, and the probes of what it taught:

    sft               the warm start: write the program, revise it from the teacher's context
    examples          supervised examples (a context, an answer, the tokens the loss is on)
    content_edits     a gold chart changed in one scored property
    reading           fresh content that only the feedback names, the loss on what it names
    feedback_gap      how much better the policy writes from the teacher's context
    feedback_reading  whether the policy reads its feedback, teacher-forced
    lead              the three measures of the teacher's lead, printed after a warm start

Imports: `method`, `loop`, `data`, `config`, `errors`, `runtime`, `memory_maps`, `models`,
render_service; never the commands.
"""
