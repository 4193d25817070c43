//! Spin's variable names and `{{ name }}` templates (component variables, trigger settings).

/// Spin's variable names: lowercase letters, digits and single underscores, starting with a letter.
pub fn validate_name(name: &str) -> Result<(), String> {
    let ok = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !name.contains("__")
        && !name.ends_with('_');
    if ok {
        Ok(())
    } else {
        Err("variable names are lowercase letters, digits and single underscores, starting with a letter".into())
    }
}

/// A piece of a `{{ template }}`.
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    Literal(String),
    Variable(String),
}

/// A template's literal text and variable references, in order.
pub fn parse_template(template: &str) -> Result<Vec<Part>, String> {
    let mut parts = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        if start > 0 {
            parts.push(Part::Literal(rest[..start].to_string()));
        }
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| format!("unclosed `{{{{` in `{template}`"))?;
        let name = after[..end].trim();
        validate_name(name).map_err(|e| format!("`{{{{ {name} }}}}` in `{template}`: {e}"))?;
        parts.push(Part::Variable(name.to_string()));
        rest = &after[end + 2..];
    }
    if !rest.is_empty() {
        parts.push(Part::Literal(rest.to_string()));
    }
    Ok(parts)
}

/// The application variables a template refers to.
pub fn template_references(template: &str) -> Result<Vec<String>, String> {
    Ok(parse_template(template)?
        .into_iter()
        .filter_map(|p| match p {
            Part::Variable(v) => Some(v),
            Part::Literal(_) => None,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_templates() {
        for ok in ["a", "api_key", "v2"] {
            assert!(validate_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "A", "1a", "a__b", "a_", "a-b"] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
        assert!(template_references("{{ unclosed").is_err());
        assert_eq!(
            template_references("a{{x}}b{{ y }}").expect("ok"),
            vec!["x", "y"]
        );
    }
}
