// fastlm error types. The core throws these (never aborts); the bindings map each kind to a Python exception:
//   ValueError -> ValueError, TypeError -> TypeError, IOError -> OSError, KeyError -> KeyError.
#pragma once
#include <stdexcept>
#include <string>

namespace fastlm {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};
class ValueError : public Error {
 public:
  using Error::Error;
};
class TypeError : public Error {
 public:
  using Error::Error;
};
class IOError : public Error {
 public:
  using Error::Error;
};
class KeyError : public Error {
 public:
  using Error::Error;
};

}  // namespace fastlm
