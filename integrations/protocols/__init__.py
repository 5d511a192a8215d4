"""Protocol step files and the step engines that run them in the sandbox."""
