# placeholder: the shell REPL driver
