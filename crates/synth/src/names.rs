//! Name lists of the fictional country: a population of mixed origins, as in most countries that
//! run a social registry, so that name matching meets realistic spellings.

pub(crate) const MALE: &[&str] = &[
    "Kwame", "Kofi", "Kwabena", "Yaw", "Kojo", "Chinedu", "Emeka", "Obinna", "Chukwudi", "Tunde",
    "Babatunde", "Oluwaseun", "Femi", "Segun", "Musa", "Ibrahim", "Abdul", "Hamza", "Yusuf",
    "Moses", "Joseph", "Peter", "Paul", "John", "Samuel", "Daniel", "David", "Isaac", "Juma",
    "Baraka", "Jabari", "Otieno", "Odhiambo", "Ochieng", "Kamau", "Mwangi", "Njoroge", "Kiprono",
    "Wanyama", "Mugisha", "Tumusiime", "Kato", "Waswa", "Okello", "Opio", "Lokeris", "Tesfaye",
    "Dawit", "Bekele", "Haile", "Mesfin", "Abebe", "Thabo", "Sipho", "Themba", "Bongani",
    "Tendai", "Farai", "Tatenda", "Arjun", "Ravi", "Sanjay", "Rahul", "Vikram", "Amit", "Rohan",
    "Imran", "Faisal", "Tariq", "Bilal", "Karim", "Anil", "Suresh", "Rajesh", "Nikhil", "Deepak",
    "Carlos", "Juan", "Luis", "Miguel", "Jorge", "Diego", "Mateo", "Santiago", "Pedro", "Rafael",
    "Andres", "Felipe", "Joao", "Tiago", "Marco", "Minh", "Tuan", "Bayu", "Budi", "Rizal", "Arif",
    "Jose", "Ramon", "Somchai", "Anan", "Ali", "Omar", "Hassan", "Hussein", "Mahmoud", "Amir",
    "Elias", "Gabriel", "Noah", "Leon", "Victor", "Emmanuel", "Innocent", "Godfrey", "Patrick",
    "Francis", "Charles", "George", "Henry", "Martin", "Simon", "Stephen", "Thomas", "Andrew",
    "Michael", "Richard", "Robert", "Brian", "Kevin", "Dennis", "Collins", "Edwin", "Felix",
    "Geoffrey", "Ivan", "Julius", "Lawrence", "Nelson", "Oscar", "Ronald", "Vincent", "William",
    "Wilson", "Alex", "Ahmed", "Mustafa", "Khalid", "Idris", "Sulaiman", "Zaid", "Nasser",
    "Tomaso", "Kelani", "Davor", "Ilario", "Seku", "Amadou", "Mamadou", "Ousmane", "Sekou",
    "Lamine", "Cheikh",
];

pub(crate) const FEMALE: &[&str] = &[
    "Akua", "Ama", "Abena", "Efua", "Adwoa", "Yaa", "Ngozi", "Chioma", "Adaeze", "Nkechi",
    "Funmilayo", "Folake", "Yetunde", "Aisha", "Fatima", "Zainab", "Amina", "Halima", "Mariam",
    "Khadija", "Hadiza", "Salma", "Grace", "Mary", "Ruth", "Esther", "Sarah", "Rebecca", "Naomi",
    "Rose", "Joyce", "Faith", "Mercy", "Hope", "Agnes", "Alice", "Annet", "Beatrice", "Betty",
    "Caroline", "Christine", "Doreen", "Dorothy", "Eunice", "Evelyn", "Florence", "Gloria",
    "Harriet", "Irene", "Jane", "Janet", "Josephine", "Judith", "Juliet", "Lilian", "Lucy",
    "Margaret", "Martha", "Monica", "Nancy", "Patience", "Peace", "Prossy", "Scovia", "Stella",
    "Susan", "Sylvia", "Winnie", "Wanjiru", "Wambui", "Njeri", "Akinyi", "Atieno", "Achieng",
    "Awino", "Nakato", "Babirye", "Namubiru", "Nansubuga", "Kyomuhendo", "Tigist", "Meron",
    "Selam", "Hiwot", "Almaz", "Lindiwe", "Nomsa", "Thandiwe", "Zanele", "Rudo", "Tsitsi",
    "Nyasha", "Chipo", "Priya", "Anjali", "Sunita", "Lakshmi", "Meena", "Kavita", "Pooja", "Neha",
    "Divya", "Farzana", "Nasreen", "Shabana", "Rukhsana", "Maria", "Ana", "Lucia", "Carmen",
    "Rosa", "Isabel", "Sofia", "Valentina", "Camila", "Gabriela", "Juana", "Fernanda", "Siti",
    "Dewi", "Putri", "Nur", "Linh", "Mai", "Maricel", "Rowena", "Analyn", "Leila", "Yasmin",
    "Layla", "Noor", "Samira", "Rania", "Hana", "Amal", "Nadia", "Ines", "Claire", "Marie",
    "Elena", "Esperanza", "Chiamaka", "Blessing", "Precious", "Comfort", "Charity", "Patricia",
    "Veronica", "Catherine", "Anne", "Aminata", "Fatoumata", "Mariama", "Awa", "Kadiatou",
    "Oumou", "Sela", "Talia", "Imani", "Zawadi", "Neema", "Rehema",
];

pub(crate) const SURNAMES: &[&str] = &[
    "Okafor", "Okonkwo", "Adeyemi", "Balogun", "Mensah", "Owusu", "Asante", "Boateng", "Osei",
    "Appiah", "Diallo", "Traore", "Keita", "Coulibaly", "Camara", "Toure", "Ndiaye", "Sow", "Ba",
    "Kamara", "Sesay", "Kargbo", "Bangura", "Conteh", "Mwangi", "Kamau", "Otieno", "Odhiambo",
    "Wanjala", "Kiprop", "Cheruiyot", "Mutua", "Ochieng", "Omondi", "Njoroge", "Kariuki",
    "Wafula", "Barasa", "Okello", "Opio", "Ouma", "Mugisha", "Tumusiime", "Byaruhanga",
    "Ssempala", "Kato", "Nsubuga", "Lubega", "Mukasa", "Kizza", "Musoke", "Waiswa", "Tesfaye",
    "Bekele", "Haile", "Girma", "Tadesse", "Alemu", "Desta", "Mekonnen", "Dlamini", "Nkosi",
    "Ndlovu", "Khumalo", "Mthembu", "Moyo", "Ncube", "Sibanda", "Banda", "Phiri", "Mwale",
    "Tembo", "Zulu", "Chanda", "Mulenga", "Mumba", "Bwalya", "Nyirenda", "Kumwenda", "Mutasa",
    "Hassan", "Hussein", "Ali", "Mohamed", "Abdi", "Warsame", "Farah", "Osman", "Yusuf",
    "Ibrahim", "Suleiman", "Juma", "Mwinyi", "Salim", "Rashid", "Shah", "Khan", "Patel", "Sharma",
    "Singh", "Kumar", "Gupta", "Reddy", "Rao", "Nair", "Iyer", "Das", "Bose", "Chowdhury",
    "Rahman", "Hossain", "Ahmed", "Islam", "Siddiqui", "Qureshi", "Malik", "Mirza", "Perera",
    "Fernando", "Silva", "Santos", "Souza", "Oliveira", "Costa", "Pereira", "Rodrigues",
    "Almeida", "Gomes", "Martins", "Lopez", "Garcia", "Martinez", "Hernandez", "Gonzalez",
    "Ramirez", "Torres", "Flores", "Rivera", "Morales", "Ortiz", "Castillo", "Vargas", "Mendoza",
    "Reyes", "Cruz", "Ramos", "Aquino", "Bautista", "Villanueva", "Nguyen", "Tran", "Le", "Pham",
    "Hoang", "Vu", "Santoso", "Wijaya", "Hidayat", "Saputra", "Kurniawan", "Lim", "Tan", "Ong",
    "Chen", "Wong", "Dubois", "Bernard", "Laurent", "Moreau", "Lefevre", "Smith", "Brown",
    "Johnson", "Williams", "Taylor", "Evans", "Walker", "Hughes", "Green", "Baker", "Adams",
    "Oyelaran", "Eze", "Nwosu", "Obi", "Uche", "Achebe", "Adebayo", "Ogunleye", "Akande", "Bello",
    "Abubakar", "Danjuma", "Lawal", "Sani", "Tijani", "Yeboah", "Acheampong", "Darko", "Frimpong",
    "Agyeman", "Nyarko", "Amoah", "Sarpong", "Kimani", "Githinji", "Maina", "Wekesa", "Simiyu",
    "Rotich", "Langat", "Koech", "Mohammed", "Nakamya", "Akello", "Anyango", "Valoru", "Kestani",
    "Murabe", "Tolanji", "Wembeki", "Zarundi", "Olumbe", "Karessa", "Ndovani", "Suleko",
    "Mabrivo", "Tanuke", "Ferango", "Lomasi", "Barinde", "Rovanta", "Selmani", "Ukolo",
    "Vidanje", "Amarillo", "Kasongo", "Mbeki", "Ilunga", "Kabila", "Lukaku", "Tshibanda",
    "Mutombo", "Nkemelu", "Rakoto", "Randria", "Rasolo", "Andria", "Haddad", "Khoury", "Nasser",
    "Saleh", "Mansour", "Aziz", "Karimi", "Hosseini", "Rezaei",
];

/// Syllables for place names: onset + vowel, with an optional final.
pub(crate) const ONSETS: &[&str] = &[
    "b", "k", "m", "n", "l", "r", "s", "t", "w", "z", "g", "d", "ny", "mb", "nd", "ch", "sh", "h",
    "y", "p", "v", "kw", "ng", "bu",
];
pub(crate) const VOWELS: &[&str] = &["a", "e", "i", "o", "u", "a", "o", "a"];
pub(crate) const FINALS: &[&str] = &["", "", "", "n", "ni", "ra", "la", "wa", "go", "mbe", "ri"];
