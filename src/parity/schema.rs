//! The small subset of JSON Schema the LLM parity suite needs to say "the answer is JSON of
//! this shape": `type`, `properties`, `required`, `additionalProperties` (true/false),
//! `items`, `enum`, `minimum`/`maximum`, `minLength`/`maxLength`, `minItems`/`maxItems`.
//! Written here rather than pulled in from a full JSON Schema crate; any other keyword is
//! refused when the suite loads, so a schema never silently checks less than it says.

use std::collections::BTreeMap;

use serde_json::Value;

const KEYWORDS: &[&str] = &[
    "type",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "enum",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "description",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JsonType {
    Object,
    Array,
    String,
    Number,
    Integer,
    Boolean,
    Null,
}

impl JsonType {
    fn parse(name: &str) -> Result<Self, String> {
        Ok(match name {
            "object" => JsonType::Object,
            "array" => JsonType::Array,
            "string" => JsonType::String,
            "number" => JsonType::Number,
            "integer" => JsonType::Integer,
            "boolean" => JsonType::Boolean,
            "null" => JsonType::Null,
            other => return Err(format!("`{other}` is not a JSON type")),
        })
    }

    fn matches(self, value: &Value) -> bool {
        match self {
            JsonType::Object => value.is_object(),
            JsonType::Array => value.is_array(),
            JsonType::String => value.is_string(),
            JsonType::Number => value.is_number(),
            JsonType::Integer => value
                .as_f64()
                .is_some_and(|n| n.fract() == 0.0 && value.is_number()),
            JsonType::Boolean => value.is_boolean(),
            JsonType::Null => value.is_null(),
        }
    }

    fn name(self) -> &'static str {
        match self {
            JsonType::Object => "an object",
            JsonType::Array => "an array",
            JsonType::String => "a string",
            JsonType::Number => "a number",
            JsonType::Integer => "an integer",
            JsonType::Boolean => "a boolean",
            JsonType::Null => "null",
        }
    }
}

/// A parsed schema.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Schema {
    types: Vec<JsonType>,
    properties: BTreeMap<String, Schema>,
    required: Vec<String>,
    additional: bool,
    items: Option<Box<Schema>>,
    enumeration: Option<Vec<Value>>,
    minimum: Option<f64>,
    maximum: Option<f64>,
    min_length: Option<usize>,
    max_length: Option<usize>,
    min_items: Option<usize>,
    max_items: Option<usize>,
}

fn count(value: &Value, key: &str) -> Result<Option<usize>, String> {
    match value.get(key) {
        None => Ok(None),
        Some(v) => v
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| format!("`{key}` must be a whole number")),
    }
}

fn number(value: &Value, key: &str) -> Result<Option<f64>, String> {
    match value.get(key) {
        None => Ok(None),
        Some(v) => v
            .as_f64()
            .map(Some)
            .ok_or_else(|| format!("`{key}` must be a number")),
    }
}

impl Schema {
    /// Parses a schema, refusing keywords outside the subset.
    pub fn parse(value: &Value) -> Result<Self, String> {
        let map = value.as_object().ok_or("a schema must be a table")?;
        if let Some(unknown) = map.keys().find(|k| !KEYWORDS.contains(&k.as_str())) {
            return Err(format!(
                "keyword `{unknown}` is not supported (supported: {})",
                KEYWORDS.join(", ")
            ));
        }
        let types = match map.get("type") {
            None => Vec::new(),
            Some(Value::String(name)) => vec![JsonType::parse(name)?],
            Some(Value::Array(names)) => names
                .iter()
                .map(|n| JsonType::parse(n.as_str().ok_or("`type` lists names")?))
                .collect::<Result<_, _>>()?,
            Some(_) => return Err("`type` must be a name or a list of names".to_owned()),
        };
        let properties = match map.get("properties") {
            None => BTreeMap::new(),
            Some(Value::Object(props)) => props
                .iter()
                .map(|(k, v)| {
                    Schema::parse(v)
                        .map(|s| (k.clone(), s))
                        .map_err(|e| format!("properties.{k}: {e}"))
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err("`properties` must be a table".to_owned()),
        };
        let required = match map.get("required") {
            None => Vec::new(),
            Some(Value::Array(names)) => names
                .iter()
                .map(|n| {
                    n.as_str()
                        .map(str::to_owned)
                        .ok_or("`required` lists names")
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err("`required` must be a list of names".to_owned()),
        };
        let additional = match map.get("additionalProperties") {
            None => true,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err("`additionalProperties` must be true or false".to_owned()),
        };
        let items = match map.get("items") {
            None => None,
            Some(v) => Some(Box::new(
                Schema::parse(v).map_err(|e| format!("items: {e}"))?,
            )),
        };
        let enumeration = match map.get("enum") {
            None => None,
            Some(Value::Array(values)) => Some(values.clone()),
            Some(_) => return Err("`enum` must be a list".to_owned()),
        };
        Ok(Schema {
            types,
            properties,
            required,
            additional,
            items,
            enumeration,
            minimum: number(value, "minimum")?,
            maximum: number(value, "maximum")?,
            min_length: count(value, "minLength")?,
            max_length: count(value, "maxLength")?,
            min_items: count(value, "minItems")?,
            max_items: count(value, "maxItems")?,
        })
    }

    /// Every way `value` breaks the schema, each with its JSON pointer; empty when it fits.
    pub fn validate(&self, value: &Value) -> Vec<String> {
        let mut problems = Vec::new();
        self.check(value, "", &mut problems);
        problems
    }

    fn check(&self, value: &Value, at: &str, problems: &mut Vec<String>) {
        let here = if at.is_empty() { "/" } else { at };
        if !self.types.is_empty() && !self.types.iter().any(|t| t.matches(value)) {
            let wanted: Vec<&str> = self.types.iter().map(|t| t.name()).collect();
            problems.push(format!("{here}: {value} is not {}", wanted.join(" or ")));
            return;
        }
        if let Some(allowed) = &self.enumeration
            && !allowed.contains(value)
        {
            problems.push(format!(
                "{here}: {value} is not one of {}",
                Value::from(allowed.clone())
            ));
        }
        if let Some(n) = value.as_f64() {
            if let Some(min) = self.minimum.filter(|min| n < *min) {
                problems.push(format!("{here}: {n} is below the minimum {min}"));
            }
            if let Some(max) = self.maximum.filter(|max| n > *max) {
                problems.push(format!("{here}: {n} is above the maximum {max}"));
            }
        }
        if let Some(text) = value.as_str() {
            let len = text.chars().count();
            if let Some(min) = self.min_length.filter(|min| len < *min) {
                problems.push(format!("{here}: {len} characters, fewer than {min}"));
            }
            if let Some(max) = self.max_length.filter(|max| len > *max) {
                problems.push(format!("{here}: {len} characters, more than {max}"));
            }
        }
        if let Some(items) = value.as_array() {
            if let Some(min) = self.min_items.filter(|min| items.len() < *min) {
                problems.push(format!("{here}: {} items, fewer than {min}", items.len()));
            }
            if let Some(max) = self.max_items.filter(|max| items.len() > *max) {
                problems.push(format!("{here}: {} items, more than {max}", items.len()));
            }
            if let Some(schema) = &self.items {
                for (i, item) in items.iter().enumerate() {
                    schema.check(item, &format!("{at}/{i}"), problems);
                }
            }
        }
        if let Some(object) = value.as_object() {
            for name in &self.required {
                if !object.contains_key(name) {
                    problems.push(format!("{here}: `{name}` is missing"));
                }
            }
            // Sorted, so the problems read the same whatever order the answer used.
            let mut keys: Vec<&String> = object.keys().collect();
            keys.sort();
            for key in keys {
                let item = &object[key];
                match self.properties.get(key) {
                    Some(schema) => schema.check(item, &format!("{at}/{key}"), problems),
                    None if !self.additional => {
                        problems.push(format!("{here}: `{key}` is not allowed"));
                    }
                    None => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn ticket() -> Schema {
        Schema::parse(&json!({
            "type": "object",
            "required": ["category", "urgency"],
            "additionalProperties": false,
            "properties": {
                "category": { "type": "string", "enum": ["billing", "bug", "account", "other"] },
                "urgency": { "type": "integer", "minimum": 1, "maximum": 5 },
                "tags": { "type": "array", "items": { "type": "string", "maxLength": 20 }, "maxItems": 3 }
            }
        }))
        .unwrap()
    }

    #[test]
    fn a_fitting_answer_has_no_problems() {
        assert!(
            ticket()
                .validate(&json!({"category": "bug", "urgency": 3, "tags": ["login"]}))
                .is_empty()
        );
    }

    #[test]
    fn every_problem_is_named_with_its_place() {
        let problems = ticket().validate(&json!({
            "category": "refund", "urgency": 7.5, "tags": ["a", "b", "c", "d"], "extra": 1
        }));
        assert_eq!(
            problems,
            [
                "/category: \"refund\" is not one of [\"billing\",\"bug\",\"account\",\"other\"]",
                "/: `extra` is not allowed",
                "/tags: 4 items, more than 3",
                "/urgency: 7.5 is not an integer",
            ]
        );
        assert_eq!(
            ticket().validate(&json!({"urgency": 0})),
            [
                "/: `category` is missing",
                "/urgency: 0 is below the minimum 1"
            ]
        );
        assert_eq!(ticket().validate(&json!([1])), ["/: [1] is not an object"]);
    }

    #[test]
    fn unsupported_keywords_are_refused() {
        let err = Schema::parse(&json!({"type": "object", "oneOf": []})).unwrap_err();
        assert!(err.starts_with("keyword `oneOf` is not supported"), "{err}");
        let err = Schema::parse(&json!({"properties": {"a": {"type": "text"}}})).unwrap_err();
        assert_eq!(err, "properties.a: `text` is not a JSON type");
        assert!(Schema::parse(&json!({"type": ["string", "null"]})).is_ok());
    }
}
