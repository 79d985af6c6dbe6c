"""Every judgement, pure: a new figure against stored ones (bands, the collapse rule, the block gate, paired and
A/B tests), learned or not, change points, the course's claims, the tune's choice and speed-ups. Imports no other
room of bench/, neither TensorFlow nor transformers: the gate, the history, the tune and the report all call it.
"""
