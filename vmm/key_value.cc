#include "vmm/key_value.h"

namespace vmm {
namespace {

// Cuts `text` into elements at single commas; ",," becomes a literal comma.
std::vector<std::string> split_elements(std::string_view text) {
  std::vector<std::string> elements(1);
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != ',') {
      elements.back() += text[i];
    } else if (i + 1 < text.size() && text[i + 1] == ',') {
      elements.back() += ',';
      ++i;
    } else {
      elements.emplace_back();
    }
  }
  return elements;
}

}  // namespace

std::vector<KeyValue> split_key_values(std::string_view text, std::string_view implied_key) {
  if (text.empty()) throw std::invalid_argument("empty option string");
  std::vector<KeyValue> result;
  const std::vector<std::string> elements = split_elements(text);
  for (size_t i = 0; i < elements.size(); ++i) {
    const std::string& element = elements[i];
    if (element.empty()) throw std::invalid_argument("empty element in '" + std::string(text) + "'");
    const size_t eq = element.find('=');
    if (eq == std::string::npos) {
      if (i == 0 && !implied_key.empty()) {
        result.push_back({std::string(implied_key), element});
        continue;
      }
      throw std::invalid_argument("'" + element + "' is not of the form key=value");
    }
    if (eq == 0) throw std::invalid_argument("'" + element + "' has an empty key");
    std::string key = element.substr(0, eq);
    for (const KeyValue& kv : result) {
      if (kv.key == key) throw std::invalid_argument("key '" + key + "' given twice");
    }
    result.push_back({std::move(key), element.substr(eq + 1)});
  }
  return result;
}

}  // namespace vmm
