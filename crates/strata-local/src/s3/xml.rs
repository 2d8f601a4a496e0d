//! S3's XML, both ways: a small writer for responses, and a reader that
//! turns the few request bodies S3 takes (CreateBucketConfiguration,
//! VersioningConfiguration, Delete, CompleteMultipartUpload) into a tiny
//! element tree, through quick-xml.
//!
//! Request documents are small (S3 caps DeleteObjects at 1,000 keys), so a
//! tree is simpler than streaming events and costs nothing that matters.
//! Namespaces are ignored: clients send
//! `xmlns="http://s3.amazonaws.com/doc/2006-03-01/"` or nothing, and S3
//! accepts both.

use quick_xml::Reader;
use quick_xml::events::Event;

use super::error::S3Error;

/// The namespace of every S3 response document.
pub const NAMESPACE: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

/// A response document being written. Elements are closed by name so a
/// mismatch shows in review; nothing here can fail.
#[derive(Debug, Default)]
pub struct Xml {
    out: String,
}

impl Xml {
    pub fn new() -> Self {
        Self {
            out: String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"),
        }
    }

    /// The root element, with S3's namespace.
    pub fn root(&mut self, tag: &str) {
        self.out.push('<');
        self.out.push_str(tag);
        self.out.push_str(" xmlns=\"");
        self.out.push_str(NAMESPACE);
        self.out.push_str("\">");
    }

    pub fn open(&mut self, tag: &str) {
        self.out.push('<');
        self.out.push_str(tag);
        self.out.push('>');
    }

    pub fn close(&mut self, tag: &str) {
        self.out.push_str("</");
        self.out.push_str(tag);
        self.out.push('>');
    }

    pub fn leaf(&mut self, tag: &str, text: &str) {
        self.open(tag);
        escape_into(&mut self.out, text);
        self.close(tag);
    }

    pub fn finish(self) -> String {
        self.out
    }
}

/// Escape text content. Control characters other than tab and newlines
/// cannot appear in XML 1.0 even escaped as themselves, so they become
/// character references (which S3 also does for keys in listings).
fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' => out.push(c),
            c if (c as u32) < 0x20 => out.push_str(&format!("&#{};", c as u32)),
            c => out.push(c),
        }
    }
}

/// One element of a request document: its local name, its text (all text
/// pieces joined) and its child elements in order.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Element {
    pub name: String,
    pub text: String,
    pub children: Vec<Element>,
}

impl Element {
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> {
        self.children.iter().filter(move |c| c.name == name)
    }

    pub fn child_text(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.as_str())
    }
}

/// Parse a whole document into its root element; `MalformedXML` on any
/// syntax error, an empty document, or more than one root.
pub fn parse(bytes: &[u8]) -> Result<Element, S3Error> {
    let text = std::str::from_utf8(bytes).map_err(|_| S3Error::MalformedXml)?;
    let mut reader = Reader::from_str(text);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    loop {
        let event = reader.read_event().map_err(|_| S3Error::MalformedXml)?;
        match event {
            Event::Start(start) => {
                if root.is_some() {
                    return Err(S3Error::MalformedXml);
                }
                stack.push(Element {
                    name: local_name(start.local_name().as_ref())?,
                    ..Element::default()
                });
            }
            Event::Empty(start) => {
                let element = Element {
                    name: local_name(start.local_name().as_ref())?,
                    ..Element::default()
                };
                attach(&mut stack, &mut root, element)?;
            }
            Event::End(_) => {
                let element = stack.pop().ok_or(S3Error::MalformedXml)?;
                attach(&mut stack, &mut root, element)?;
            }
            Event::Text(text) => {
                let piece = text.decode().map_err(|_| S3Error::MalformedXml)?;
                push_text(&mut stack, &piece)?;
            }
            Event::CData(data) => {
                let piece = data.decode().map_err(|_| S3Error::MalformedXml)?;
                push_text(&mut stack, &piece)?;
            }
            Event::GeneralRef(reference) => {
                let resolved = if reference.is_char_ref() {
                    reference
                        .resolve_char_ref()
                        .map_err(|_| S3Error::MalformedXml)?
                        .ok_or(S3Error::MalformedXml)?
                } else {
                    let name = reference.decode().map_err(|_| S3Error::MalformedXml)?;
                    match name.as_ref() {
                        "lt" => '<',
                        "gt" => '>',
                        "amp" => '&',
                        "quot" => '"',
                        "apos" => '\'',
                        _ => return Err(S3Error::MalformedXml),
                    }
                };
                push_text(&mut stack, resolved.encode_utf8(&mut [0; 4]))?;
            }
            Event::Eof => break,
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) | Event::DocType(_) => {}
        }
    }
    if !stack.is_empty() {
        return Err(S3Error::MalformedXml);
    }
    root.ok_or(S3Error::MalformedXml)
}

fn local_name(bytes: &[u8]) -> Result<String, S3Error> {
    std::str::from_utf8(bytes)
        .map(str::to_owned)
        .map_err(|_| S3Error::MalformedXml)
}

fn attach(
    stack: &mut [Element],
    root: &mut Option<Element>,
    element: Element,
) -> Result<(), S3Error> {
    match stack.last_mut() {
        Some(parent) => parent.children.push(element),
        None if root.is_none() => *root = Some(element),
        None => return Err(S3Error::MalformedXml),
    }
    Ok(())
}

fn push_text(stack: &mut [Element], piece: &str) -> Result<(), S3Error> {
    match stack.last_mut() {
        Some(element) => element.text.push_str(piece),
        // Whitespace around the root is fine; anything else is not XML.
        None if piece.trim().is_empty() => {}
        None => return Err(S3Error::MalformedXml),
    }
    Ok(())
}

/// One entry of a DeleteObjects request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteEntry {
    pub key: String,
    pub version_id: Option<String>,
}

/// A DeleteObjects body: `<Delete><Quiet>true</Quiet><Object><Key>k</Key>
/// <VersionId>v</VersionId></Object>...</Delete>`.
#[derive(Debug, PartialEq, Eq)]
pub struct DeleteRequest {
    pub quiet: bool,
    pub objects: Vec<DeleteEntry>,
}

/// S3 takes at most this many keys per DeleteObjects.
pub const MAX_DELETE_KEYS: usize = 1000;

pub fn parse_delete(bytes: &[u8]) -> Result<DeleteRequest, S3Error> {
    let root = parse(bytes)?;
    if root.name != "Delete" {
        return Err(S3Error::MalformedXml);
    }
    let quiet = match root.child_text("Quiet").map(str::trim) {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(S3Error::MalformedXml),
    };
    let mut objects = Vec::new();
    for object in root.children_named("Object") {
        let key = object.child_text("Key").ok_or(S3Error::MalformedXml)?;
        objects.push(DeleteEntry {
            key: key.to_owned(),
            version_id: object.child_text("VersionId").map(str::to_owned),
        });
    }
    // An empty list, or more than S3 takes, is a schema violation.
    if objects.is_empty() || objects.len() > MAX_DELETE_KEYS {
        return Err(S3Error::MalformedXml);
    }
    Ok(DeleteRequest { quiet, objects })
}

/// A CompleteMultipartUpload body: the parts as (number, ETag), in the order
/// given (the caller checks the order, which is its own error).
pub fn parse_complete(bytes: &[u8]) -> Result<Vec<(u32, String)>, S3Error> {
    let root = parse(bytes)?;
    if root.name != "CompleteMultipartUpload" {
        return Err(S3Error::MalformedXml);
    }
    let mut parts = Vec::new();
    for part in root.children_named("Part") {
        let number = part
            .child_text("PartNumber")
            .and_then(|n| n.trim().parse::<u32>().ok())
            .ok_or(S3Error::MalformedXml)?;
        let etag = part.child_text("ETag").ok_or(S3Error::MalformedXml)?;
        parts.push((number, etag.trim().to_owned()));
    }
    if parts.is_empty() {
        return Err(S3Error::MalformedXml);
    }
    Ok(parts)
}

/// A VersioningConfiguration body: the status asked for.
pub fn parse_versioning(bytes: &[u8]) -> Result<Option<String>, S3Error> {
    let root = parse(bytes)?;
    if root.name != "VersioningConfiguration" {
        return Err(S3Error::MalformedXml);
    }
    Ok(root.child_text("Status").map(|s| s.trim().to_owned()))
}

/// A CreateBucketConfiguration body (may be absent): the location asked
/// for, if any.
pub fn parse_create_bucket(bytes: &[u8]) -> Result<Option<String>, S3Error> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let root = parse(bytes)?;
    if root.name != "CreateBucketConfiguration" {
        return Err(S3Error::MalformedXml);
    }
    Ok(root
        .child_text("LocationConstraint")
        .map(|s| s.trim().to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_escaped_text() {
        let mut xml = Xml::new();
        xml.root("R");
        xml.leaf("Key", "a<b>&\"c'\u{1}");
        xml.close("R");
        assert!(xml.finish().ends_with(&format!(
            "<R xmlns=\"{NAMESPACE}\"><Key>a&lt;b&gt;&amp;&quot;c&apos;&#1;</Key></R>"
        )));
    }

    #[test]
    fn parses_a_delete_request_with_namespaces_entities_and_quiet() {
        let body = br#"<?xml version="1.0" encoding="UTF-8"?>
            <Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
              <Object><Key>a&amp;b&#13;</Key></Object>
              <Object><Key><![CDATA[c<d]]></Key><VersionId>v1</VersionId></Object>
              <Quiet>true</Quiet>
            </Delete>"#;
        let parsed = parse_delete(body).expect("valid");
        assert!(parsed.quiet);
        assert_eq!(
            parsed.objects,
            vec![
                DeleteEntry {
                    key: "a&b\r".to_owned(),
                    version_id: None
                },
                DeleteEntry {
                    key: "c<d".to_owned(),
                    version_id: Some("v1".to_owned())
                },
            ]
        );
    }

    #[test]
    fn refuses_malformed_documents() {
        for body in [
            &b""[..],
            b"<Delete>",
            b"<Delete><Object><Key>k</Key></Object>",
            b"<Delete></Object></Delete>",
            b"<Delete><Object><Key>k</Key></Object></Delete><Delete/>",
            b"not xml",
            b"<Delete><Object></Object></Delete>",
            b"<Delete></Delete>",
            b"<Other><Object><Key>k</Key></Object></Other>",
            b"<Delete><Quiet>maybe</Quiet><Object><Key>k</Key></Object></Delete>",
            b"<Delete><Object><Key>&bogus;</Key></Object></Delete>",
            b"\xff\xfe",
        ] {
            assert!(
                matches!(parse_delete(body), Err(S3Error::MalformedXml)),
                "{:?}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn parses_complete_multipart_parts_in_given_order() {
        let body = b"<CompleteMultipartUpload><Part><ETag>\"b\"</ETag><PartNumber>2</PartNumber></Part>\
                     <Part><PartNumber>1</PartNumber><ETag>\"a\"</ETag></Part></CompleteMultipartUpload>";
        assert_eq!(
            parse_complete(body).expect("valid"),
            vec![(2, "\"b\"".to_owned()), (1, "\"a\"".to_owned())]
        );
        assert!(parse_complete(b"<CompleteMultipartUpload/>").is_err());
        assert!(
            parse_complete(b"<CompleteMultipartUpload><Part><PartNumber>x</PartNumber><ETag>e</ETag></Part></CompleteMultipartUpload>")
                .is_err()
        );
    }

    #[test]
    fn parses_versioning_and_bucket_configuration() {
        assert_eq!(
            parse_versioning(
                b"<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>"
            )
            .expect("valid"),
            Some("Enabled".to_owned())
        );
        assert_eq!(parse_create_bucket(b"").expect("empty"), None);
        assert_eq!(
            parse_create_bucket(b"<CreateBucketConfiguration><LocationConstraint>eu-west-1</LocationConstraint></CreateBucketConfiguration>")
                .expect("valid"),
            Some("eu-west-1".to_owned())
        );
    }
}
