// Sends the authorization response to the application without a click (OAuth 2.0 Form
// Post Response Mode); the button is there when scripts are off.
document.getElementById("form-post").submit();
