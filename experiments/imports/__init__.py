"""Stimulus imports: read an archive or folder safely, plan the stimuli, validate them all.

`sources` opens a zip or a folder without ever extracting to disk; `manifest` and `aigciqa2023`
turn a source into a plan (one `Planned` per image) plus the problems they found; `validate`
decodes every image and checks the plan as a whole. Writing is `experiments.services`' job.
"""
