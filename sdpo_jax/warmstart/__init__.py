"""The supervised start of the tiny policies, and the probes of what it taught:

    sft               the warm start: write the program, revise it from the teacher's context
    content_edits     a gold chart changed in one scored property, for reading probes
    feedback_gap      how much better the policy writes from the teacher's context
    feedback_reading  whether the policy reads its feedback, teacher-forced

Imports: `method`, `loop`, `data`, `config`, `errors`, `runtime`, `memory_maps`, `models`,
render_service; never the commands.
"""
