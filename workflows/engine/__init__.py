"""The one door to SpiffWorkflow: instances (`instances`), restricted BPMN scripts (`scripting`), state and spec
serialization (`serialization`), parsing, validation and lint of definitions (`specs`).

Only this package imports SpiffWorkflow. It may import `workflows.domain`; it never touches the database — services
hand in the stored spec and state and get back what to store.
"""
