//! One mail, written once and sent as plain text with an HTML alternative:
//! a greeting, paragraphs and links, the product's name. The HTML is an
//! askama template, so everything in it is escaped.

use askama::Template;

/// A piece of a letter.
#[derive(Debug, Clone)]
pub enum Part {
    /// A paragraph of text.
    Text(String),
    /// An absolute link, on a line of its own.
    Link(String),
}

/// A mail to an account owner.
#[derive(Debug, Clone, Template)]
#[template(path = "mail.html")]
pub struct Letter {
    /// The subject, without the product's prefix.
    pub subject: String,
    /// Who it is to (the greeting).
    pub username: String,
    /// The body, in order.
    pub parts: Vec<Part>,
    /// The sender's name, as the signature.
    pub product: String,
}

impl Letter {
    /// The plain-text body.
    pub fn text(&self) -> String {
        let mut body = format!("Hello {},\n\n", self.username);
        for part in &self.parts {
            match part {
                Part::Text(text) | Part::Link(text) => body.push_str(text),
            }
            body.push_str("\n\n");
        }
        body.push_str(&format!("-- {}\n", self.product));
        body
    }

    /// The HTML alternative; `None` if it cannot be rendered (the text goes alone).
    pub fn html(&self) -> Option<String> {
        match self.render() {
            Ok(html) => Some(html),
            Err(e) => {
                tracing::warn!(error = %e, "could not render a mail's HTML");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_bodies_say_the_same_and_the_html_escapes() {
        let letter = Letter {
            subject: "Reset".into(),
            username: "alice".into(),
            parts: vec![Part::Text("A <b> & \"c\"".into()), Part::Link("https://x.example/r?token=a&b=c".into())],
            product: "Latchkey".into(),
        };
        let text = letter.text();
        assert!(text.starts_with("Hello alice,\n\nA <b> & \"c\"\n\nhttps://x.example/r?token=a&b=c\n\n-- Latchkey"));
        let html = letter.html().expect("renders");
        assert!(html.contains("A &#60;b&#62; &#38; &#34;c&#34;") || html.contains("A &lt;b&gt; &amp; &quot;c&quot;"));
        assert!(!html.contains("<b>"));
        assert!(html.contains("href=\"https://x.example/r?token=a&#38;b=c\"") || html.contains("token=a&amp;b=c"));
    }
}
