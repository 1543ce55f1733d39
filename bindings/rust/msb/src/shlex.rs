//! Shell-style splitting of a command line into words (POSIX sh rules for
//! quoting, no expansion of any kind): `'...'` is literal, `"..."` keeps
//! `\"`, `\\`, `\$`, `` \` `` and backslash-newline as escapes, a backslash
//! outside quotes escapes the next character, and `#` at the start of a word
//! begins a comment. An unterminated quote or a trailing backslash is an
//! error (None): the command is never run half-parsed.

pub(crate) fn split(input: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = input.chars().peekable();

    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' | '\r' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '#' if !in_word => {
                // a comment: to the end of the line
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            '\\' => match chars.next() {
                Some('\n') => {} // line continuation
                Some(n) => {
                    word.push(n);
                    in_word = true;
                }
                None => return None,
            },
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(n) => word.push(n),
                        None => return None,
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(n @ ('"' | '\\' | '$' | '`')) => word.push(n),
                            Some('\n') => {}
                            Some(n) => {
                                word.push('\\');
                                word.push(n);
                            }
                            None => return None,
                        },
                        Some(n) => word.push(n),
                        None => return None,
                    }
                }
            }
            _ => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Some(words)
}

#[cfg(test)]
mod tests {
    use super::split;

    fn s(v: &[&str]) -> Option<Vec<String>> {
        Some(v.iter().map(|x| x.to_string()).collect())
    }

    #[test]
    fn plain_words() {
        assert_eq!(split("/bin/echo hello  world"), s(&["/bin/echo", "hello", "world"]));
        assert_eq!(split("  a\tb\nc  "), s(&["a", "b", "c"]));
        assert_eq!(split(""), s(&[]));
    }

    #[test]
    fn quotes() {
        assert_eq!(split("echo 'a b' \"c d\""), s(&["echo", "a b", "c d"]));
        assert_eq!(split("echo 'it\"s'"), s(&["echo", "it\"s"]));
        assert_eq!(split(r#"echo "say \"hi\" \$x \n""#), s(&["echo", "say \"hi\" $x \\n"]));
        assert_eq!(split("echo a'b'\"c\"d"), s(&["echo", "abcd"]));
        assert_eq!(split("echo '' \"\""), s(&["echo", "", ""]));
        assert_eq!(split(r"echo 'a\b'"), s(&["echo", r"a\b"]));
    }

    #[test]
    fn backslashes_and_comments() {
        assert_eq!(split(r"echo a\ b \#c"), s(&["echo", "a b", "#c"]));
        assert_eq!(split("echo a\\\nb"), s(&["echo", "ab"]));
        assert_eq!(split("echo a # comment\necho"), s(&["echo", "a", "echo"]));
        assert_eq!(split("echo a#b"), s(&["echo", "a#b"]));
    }

    #[test]
    fn mismatched_quotes_are_errors() {
        assert_eq!(split("'unterminated"), None);
        assert_eq!(split("echo \"unterminated"), None);
        assert_eq!(split("echo \"a\\"), None);
        assert_eq!(split("echo trailing\\"), None);
    }
}
