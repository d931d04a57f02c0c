"""The last step of a TA's job: the gradebook (what TAs entered in formgrader) -> final grades,
LMS import files and each student's final feedback (`alexnet-lab export`), and the formgrader
server itself (`alexnet-lab formgrader`)."""
