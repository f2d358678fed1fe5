import CYaml

/// A check of a catalog or policy file's YAML shape on libyaml's event stream, run before Yams composes it.
///
/// Yams composes any YAML, and two of its steps take exponential time on small hostile files (found by
/// FuzzCatalog): when a mapping has duplicate keys it sorts them, and its `<` on collections compares
/// each element twice (`<`, then `>`), so equal nested keys cost 2^depth; and it hashes every key,
/// so a key that is an alias of aliases ("billion laughs") is hashed in full each time. Our files need
/// neither collections as keys nor aliases, so they are refused here, in one linear pass and with the
/// line, before Yams sees them. libyaml is the parser Yams itself uses (its `CYaml` module), so both
/// read the same text the same way; a syntax error is left to Yams, which reports it.
enum YAMLShape {
    struct Refusal: Error, Equatable {
        /// 1-based line of the offending node.
        let line: Int
        let message: String
    }

    /// Whether the next node in a collection is a mapping key, a mapping value, or a sequence item.
    private enum Slot { case key, value, item }

    static func check(_ text: String) -> Refusal? {
        var utf8 = Array(text.utf8)
        if utf8.isEmpty { return nil }
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else { return nil }
        defer { yaml_parser_delete(&parser) }
        return utf8.withUnsafeMutableBufferPointer { bytes -> Refusal? in
            yaml_parser_set_input_string(&parser, bytes.baseAddress, bytes.count)
            yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING)
            var slots: [Slot] = []
            // Marks a node as taking the current slot; refuses a collection in a key slot.
            func place(collection: Bool, line: Int) -> Refusal? {
                guard let slot = slots.last else { return nil }
                switch slot {
                case .key:
                    if collection { return Refusal(line: line, message: "mapping keys must be plain strings, not lists or mappings") }
                    slots[slots.count - 1] = .value
                case .value: slots[slots.count - 1] = .key
                case .item: break
                }
                return nil
            }
            while true {
                var event = yaml_event_t()
                guard yaml_parser_parse(&parser, &event) == 1 else { return nil }  // Yams reports the syntax error
                defer { yaml_event_delete(&event) }
                let line = Int(event.start_mark.line) + 1
                switch event.type {
                case YAML_STREAM_END_EVENT, YAML_NO_EVENT:
                    return nil
                case YAML_ALIAS_EVENT:
                    return Refusal(line: line, message: "aliases (*name) are not allowed; write the value out")
                case YAML_SCALAR_EVENT:
                    if let refusal = place(collection: false, line: line) { return refusal }
                case YAML_SEQUENCE_START_EVENT:
                    if let refusal = place(collection: true, line: line) { return refusal }
                    slots.append(.item)
                case YAML_MAPPING_START_EVENT:
                    if let refusal = place(collection: true, line: line) { return refusal }
                    slots.append(.key)
                case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
                    _ = slots.popLast()
                default:
                    break  // stream and document start/end
                }
            }
        }
    }
}
